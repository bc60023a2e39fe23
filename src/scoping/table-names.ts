import type { DataSource } from 'typeorm';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';

// A table named by a string ('posts', 'public.posts', '"POSTS"', '`db`.`posts`') must be
// recognised however the database would read it, or a tenant-scoped table slips through
// unscoped. This module holds every dialect rule about table names in one place.

/** One part of a dotted name: its text without quotes, and whether it was quoted. */
interface NamePart {
  readonly text: string;
  readonly quoted: boolean;
}

const quotePairs: Record<string, string> = { '"': '"', '`': '`', '[': ']' };
const unquotedPart = /^[\p{L}_][\p{L}\p{N}_$]*$/u;

/**
 * Splits `schema.table`, `"My Schema"."Table"`, `` `db`.`t` `` or `[main].[t]` into parts.
 * `undefined` when the text is not a well-formed dotted name (anything the library cannot
 * read with certainty is treated as unknown, never as harmless).
 */
export function parseDottedName(text: string): NamePart[] | undefined {
  const parts: NamePart[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  for (;;) {
    skipSpace();
    const open = text[i];
    if (open !== undefined && open in quotePairs) {
      const close = quotePairs[open]!;
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === close) {
          // A doubled closing quote is an escaped quote character ("" and ``).
          if (close !== ']' && text[i + 1] === close) {
            value += close;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      if (value === '') return undefined;
      parts.push({ text: value, quoted: true });
    } else {
      const start = i;
      while (i < text.length && text[i] !== '.' && !/\s/.test(text[i]!)) i++;
      const value = text.slice(start, i);
      if (!unquotedPart.test(value)) return undefined;
      parts.push({ text: value, quoted: false });
    }
    skipSpace();
    if (i >= text.length) break;
    if (text[i] !== '.') return undefined;
    i++;
  }
  return parts.length >= 1 && parts.length <= 3 ? parts : undefined;
}

const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** How a dialect compares a name written by the user with a name TypeORM renders. */
interface NameRules {
  /** The comparison key of a part the user wrote. */
  userKey(part: NamePart): string;
  /** The comparison key of a name from the metadata (rendered quoted by TypeORM). */
  metadataKey(name: string): string;
  /** Innermost first: the names that may qualify a table of the DataSource's default location. */
  defaultQualifiers(dataSource: DataSource): Array<string | undefined>[];
  /** Innermost first: the qualifiers an entity that names its own location has. */
  ownQualifiers(metadata: EntityMetadata): Array<string | undefined>;
}

// PostgreSQL folds unquoted names to lower case and compares quoted ones exactly.
const postgresRules: NameRules = {
  userKey: (part) => (part.quoted ? part.text : asciiLower(part.text)),
  metadataKey: (name) => name,
  defaultQualifiers: (ds) => {
    const driver = ds.driver as { schema?: string; searchSchema?: string; database?: string };
    const schemas = [...new Set([driver.schema, driver.searchSchema, 'public'].filter(Boolean))];
    return [schemas, [driver.database]];
  },
  ownQualifiers: (metadata) => [metadata.schema, metadata.database],
};

// SQLite compares identifiers without ASCII letter case, quoted or not; `main` is the default schema.
const sqliteRules: NameRules = {
  userKey: (part) => asciiLower(part.text),
  metadataKey: asciiLower,
  defaultQualifiers: () => [['main']],
  ownQualifiers: (metadata) => [metadata.schema ?? metadata.database],
};

// MySQL/MariaDB compare table names with or without case depending on lower_case_table_names
// (and the file system). Comparing without case reads every spelling that could name the table on
// some server as that table: never less scoping than the server applies.
const mysqlRules: NameRules = {
  userKey: (part) => asciiLower(part.text),
  metadataKey: asciiLower,
  defaultQualifiers: (ds) => [[(ds.driver as { database?: string }).database]],
  ownQualifiers: (metadata) => [metadata.database],
};

// Other dialects: compare without case, qualifiers must name the driver's schema or database.
const otherRules: NameRules = {
  userKey: (part) => asciiLower(part.text),
  metadataKey: asciiLower,
  defaultQualifiers: (ds) => {
    const driver = ds.driver as { schema?: string; database?: string };
    return [[driver.schema], [driver.database]];
  },
  ownQualifiers: (metadata) => [metadata.schema, metadata.database],
};

function rulesFor(dataSource: DataSource): NameRules {
  switch (dataSource.options.type) {
    case 'postgres':
    case 'aurora-postgres':
    case 'cockroachdb':
      return postgresRules;
    case 'better-sqlite3':
    case 'sqljs':
    case 'capacitor':
    case 'cordova':
    case 'expo':
    case 'nativescript':
    case 'react-native':
      return sqliteRules;
    case 'mysql':
    case 'mariadb':
    case 'aurora-mysql':
      return mysqlRules;
    default:
      return otherRules;
  }
}

/** What a string table name resolves to. */
export type TableNameResolution =
  | { readonly kind: 'table'; readonly metadata: EntityMetadata }
  /** Not a table of this DataSource's metadata; `resembles` lists metadata whose table name it shares (another schema, database, ...). */
  | { readonly kind: 'unknown'; readonly qualified: boolean; readonly resembles: readonly EntityMetadata[] }
  | { readonly kind: 'malformed' };

/**
 * Resolves string table names against every table TypeORM knows for one DataSource
 * (entities, junction and closure tables, views), the way the database would: quoting,
 * letter case, and the default schema or database as an optional qualifier.
 */
export class TableNames {
  readonly #dataSource: DataSource;
  readonly #rules: NameRules;
  readonly #byName = new Map<string, EntityMetadata[]>();

  constructor(dataSource: DataSource) {
    this.#dataSource = dataSource;
    this.#rules = rulesFor(dataSource);
    for (const metadata of dataSource.entityMetadatas) {
      const key = this.#rules.metadataKey(metadata.tableName);
      const list = this.#byName.get(key) ?? [];
      // Single-table inheritance: the children share the root's table; the root comes first.
      if (metadata.tableType === 'entity-child') list.push(metadata);
      else list.unshift(metadata);
      this.#byName.set(key, list);
    }
  }

  resolve(text: string): TableNameResolution {
    const parts = parseDottedName(text);
    if (!parts) return { kind: 'malformed' };
    const table = parts.at(-1)!;
    const qualifiers = parts.slice(0, -1);
    const candidates = this.#byName.get(this.#rules.userKey(table)) ?? [];
    for (const metadata of candidates) {
      if (this.#qualifiersMatch(qualifiers, metadata)) return { kind: 'table', metadata };
    }
    return { kind: 'unknown', qualified: qualifiers.length > 0, resembles: candidates };
  }

  /** Qualifiers (innermost last) must name where the table lives: its own schema/database, or the default one. */
  #qualifiersMatch(qualifiers: NamePart[], metadata: EntityMetadata): boolean {
    const defaults = this.#rules.defaultQualifiers(this.#dataSource);
    const own = this.#rules.ownQualifiers(metadata);
    const reversed = [...qualifiers].reverse();
    return reversed.every((part, depth) => {
      const allowed = own[depth] ? [own[depth]] : (defaults[depth] ?? []);
      const key = this.#rules.userKey(part);
      return allowed.some((name) => name !== undefined && this.#rules.metadataKey(name) === key);
    });
  }
}
