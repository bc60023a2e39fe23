// The caller's stack frame for audit events: the first frame outside this package and TypeORM.

/** Where this package's own code lives (its src/ or dist/ folder), read from a stack captured here. */
function packageRoot(): string | undefined {
  const frame = new Error().stack?.split('\n')[1] ?? '';
  const file = /\(?((?:file:\/\/)?\/[^():]+)/.exec(frame)?.[1];
  if (!file) return undefined;
  const at = Math.max(file.lastIndexOf('/src/'), file.lastIndexOf('/dist/'));
  return at === -1 ? file.slice(0, file.lastIndexOf('/') + 1) : file.slice(0, file.indexOf('/', at + 1) + 1);
}

const root = packageRoot();
const foreign = /node_modules\/typeorm\/|\(node:|^\s*at node:|\bnode:internal\//;

/**
 * `file:line:column` (with the function name when there is one) of the code that called into
 * the library, or `undefined` when no such frame is on the stack. Costs one stack capture:
 * called only when someone listens (an `onBypass` hook).
 */
export function callSite(): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 64;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  for (const line of stack.split('\n').slice(1)) {
    if ((root && line.includes(root)) || foreign.test(line)) continue;
    return line.trim().replace(/^at /, '');
  }
  return undefined;
}
