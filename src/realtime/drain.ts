// The shutdown drain: counts the events being handled, refuses new ones once shutdown has
// begun, and lets shutdown wait for the last running event to answer (its ack is written to
// the socket before the connections are closed). Waiting is event-driven: the event that
// brings the count to zero resolves the wait; nothing polls.

export class Drain {
  /** Events being handled now. */
  private running = 0;
  /** Shutting down: new events are refused with `unavailable`. */
  draining = false;
  private onIdle: (() => void) | undefined;

  /** An event starts (after its ack, if any, is known). */
  begin(): void {
    this.running++;
  }

  /** An event has answered. */
  end(): void {
    this.running--;
    if (this.running === 0 && this.onIdle) {
      const resolve = this.onIdle;
      this.onIdle = undefined;
      resolve();
    }
  }

  get inFlight(): number {
    return this.running;
  }

  /**
   * Stops taking events and resolves once every running one has answered, or after
   * `timeoutMs` (an event stuck on a hung dependency must not hold shutdown forever).
   * Events that had reached the process when shutdown began (in the kernel's buffers, not
   * read yet) are read in the event loop's next I/O phase: two check phases are let pass
   * (an immediate queued from an immediate runs only after one full poll phase), so they
   * are counted and answered too (refused `unavailable`) before the connections close.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.draining = true;
    const until = Date.now() + timeoutMs;
    await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
    if (this.running === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          this.onIdle = undefined;
          resolve();
        },
        Math.max(0, until - Date.now()),
      );
      timer.unref();
      this.onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
