// Waiting for something that is about to happen, instead of sleeping for a time that is hoped
// to be long enough: the check runs again and again until it holds, or the time is up.

export interface EventuallyOptions {
  /** What is being waited for, for the error message. */
  what?: string;
  /** How long to keep trying (ms); 5 s unless told. */
  within?: number;
  /** The pause between two tries (ms). */
  every?: number;
}

/**
 * Runs `check` until it holds, and resolves with what it returned: a check holds when it
 * neither throws nor returns (or resolves to) `false`. So it can be an assertion
 * (`() => expect(x).to.equal(1)`) or a predicate (`async () => (await ask()) === "ok"`). Once
 * `within` ms have passed, it rejects with the last failure: the check's own error (a chai
 * AssertionError keeps its expected and actual values), its message prefixed with what was
 * awaited and for how long, or an Error saying the predicate was still false.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  { what = "a condition", within = 5000, every = 20 }: EventuallyOptions = {},
): Promise<Exclude<T, false>> {
  const started = performance.now();
  for (let tries = 1; ; tries++) {
    let failure: unknown;
    try {
      const value = await check();
      if (value !== false) return value as Exclude<T, false>;
      failure = undefined;
    } catch (err) {
      failure = err;
    }
    const spent = performance.now() - started;
    if (spent >= within) {
      const prefix = `${what} did not hold within ${within} ms (${tries} tries)`;
      if (failure instanceof Error) {
        failure.message = `${prefix}: ${failure.message}`;
        throw failure;
      }
      throw new Error(failure === undefined ? prefix : `${prefix}: ${String(failure)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(every, within - spent)));
  }
}
