// A D1 binding with a hook around every call that reaches the database: the fault harness injects errors through it,
// the bench counts and times through it, tests count round trips. The one place that knows the catch: batch() must be
// given workerd's own statement objects back, never proxies of them.
export type StatementCall = "run" | "all" | "first" | "raw";

export interface D1Interceptor {
  /** Around one statement run on its own; `call` runs it as the caller asked (with `args`). */
  statement?(
    op: StatementCall,
    statement: D1PreparedStatement,
    args: unknown[],
    call: () => Promise<unknown>,
  ): Promise<unknown>;
  /** Around a batch; `statements` are the real ones, in order. */
  batch?(statements: D1PreparedStatement[], call: () => Promise<D1Result[]>): Promise<D1Result[]>;
  exec?(query: string, call: () => Promise<D1ExecResult>): Promise<D1ExecResult>;
}

const STATEMENT_CALLS = new Set<PropertyKey>(["run", "all", "first", "raw"]);

export function interceptD1(d1: D1Database, hooks: D1Interceptor): D1Database {
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
        if (STATEMENT_CALLS.has(prop) && hooks.statement) {
          const method = Reflect.get(target, prop, target) as (...args: unknown[]) => Promise<unknown>;
          return (...args: unknown[]) =>
            hooks.statement!(prop as StatementCall, target, args, () => method.apply(target, args));
        }
        return bound(target, prop);
      },
    });
    real.set(proxy, statement);
    return proxy;
  };
  return new Proxy(d1, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => wrap(target.prepare(query));
      if (prop === "batch")
        return (statements: D1PreparedStatement[]) => {
          const unwrapped = statements.map((s) => real.get(s) ?? s);
          const call = () => target.batch(unwrapped);
          return hooks.batch ? hooks.batch(unwrapped, call) : call();
        };
      if (prop === "exec" && hooks.exec) return (query: string) => hooks.exec!(query, () => target.exec(query));
      return bound(target, prop);
    },
  });
}

function bound(target: object, prop: PropertyKey): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === "function" ? value.bind(target) : value;
}
