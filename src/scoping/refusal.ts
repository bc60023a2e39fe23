import type { ScopeContext } from './scope-context.js';

/** An error the library is about to throw for a scope: logged to the Tenancy's logger (if any) first. */
export function refused<E extends Error>(scope: ScopeContext | undefined, error: E): E {
  scope?.registry.audit.refusal(error);
  return error;
}
