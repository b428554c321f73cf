// Confirms that replicas hold what a connection wrote, before parley acks it (WAIT).
//
// The rule: a message is acked once `wanted` replicas hold it, never fewer. A primary that
// has lost its replicas cannot ack alone: that is exactly the moment before a failover (the
// sentinels promote a replica about a second before they name it, and a partitioned primary
// drops its replicas), and what it acked alone would be wiped when it is turned into a
// replica. So with one replica, chat refuses messages (`unavailable`) until a replica is
// back; run two replicas so that one remains after a failover.
//
// WAIT blocks its connection and covers only the writes made on it, so the connection is
// this store's own. At most one WAIT is in flight (group commit): writes issued while it
// waits share the next WAIT, sent when it returns. So the replicas' round trip costs latency
// (at most two of them), not throughput, and the connection is never held for longer than
// two WAITs, well under the reply deadline of the watchdog.
import type { RedisClientType } from "redis";

/** How long replicas get to confirm (ms): two of these stay under the reply deadline. */
export const REPLICA_WAIT_MS = 500;

export class ReplicaAcks {
  private inFlight: Promise<boolean> | undefined;
  private next: Promise<boolean> | undefined;

  constructor(
    /** The connection that makes the writes to confirm. */
    readonly client: RedisClientType,
    private readonly wanted: number,
  ) {}

  /**
   * True once `wanted` replicas hold every write issued on the client before this call;
   * false if they did not confirm in time or the connection failed. Call it right after
   * issuing the write (same tick), so the WAIT follows it on the connection.
   */
  confirm(): Promise<boolean> {
    if (!this.inFlight) {
      this.inFlight = this.wait();
      return this.inFlight;
    }
    // A WAIT is in flight: this write queues behind it on the connection (WAIT blocks it), so
    // only a WAIT sent after that one returns covers it. One such WAIT serves all of them.
    const current = this.inFlight;
    this.next ??= current.then(() => {
      const mine = this.wait();
      this.inFlight = mine;
      this.next = undefined;
      return mine;
    });
    return this.next;
  }

  private wait(): Promise<boolean> {
    const sent = this.client
      .sendCommand<number>(["WAIT", String(this.wanted), String(REPLICA_WAIT_MS)])
      .then(
        (got) => got >= this.wanted,
        () => false,
      );
    void sent.then(() => {
      if (this.inFlight === sent && !this.next) this.inFlight = undefined;
    });
    return sent;
  }
}
