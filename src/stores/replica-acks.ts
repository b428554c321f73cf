// Confirms that replicas hold what a connection wrote, before parley acks it (WAIT).
//
// The rule: a message is acked once `wanted` replicas hold it, or every replica the primary
// has if it has fewer. So any message acked while a replica was connected survives the
// failover to that replica. A primary left alone (after a failover, before the old primary
// returns as a replica) keeps chat open: no failover is possible then (there is nothing to
// promote), and the primary's own append-only file holds the messages. The number of
// replicas is read with ROLE every 250 ms, on every new connection, and again when a WAIT
// falls short, so no message is refused for a replica that has gone.
//
// WAIT blocks its connection and covers only the writes made on it, so the connection is
// this store's own. Writes issued in the same tick share one WAIT.
import type { Redis } from "../redis.js";

/** How long replicas get to confirm (ms): under the reply deadline, as WAIT blocks. */
export const REPLICA_WAIT_MS = 500;
const LOOK_EVERY_MS = 250;

export class ReplicaAcks {
  private present = 0;
  private pending: Promise<boolean> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** The connection that makes the writes to confirm. */
    readonly client: Redis,
    private readonly wanted: number,
  ) {
    this.timer = setInterval(() => void this.look(), LOOK_EVERY_MS);
    this.timer.unref();
    // A new connection may lead to another primary (a failover) with other replicas.
    client.on("ready", () => void this.look());
  }

  /** Reads how many replicas the primary has now. */
  async look(): Promise<void> {
    try {
      const role = (await this.client.sendCommand(["ROLE"])) as [string, number, unknown[]];
      this.present = role[0] === "master" && Array.isArray(role[2]) ? role[2].length : 0;
    } catch {
      // Unreachable: writes fail on their own. Keep the last count.
    }
  }

  /**
   * True once the replicas hold every write issued on the client so far (one WAIT, sent at
   * the end of this tick, is shared by every write of the tick); false if they did not
   * confirm in time or the connection failed.
   */
  confirm(): Promise<boolean> {
    this.pending ??= Promise.resolve().then(async () => {
      this.pending = undefined;
      const need = Math.min(this.wanted, this.present);
      if (need === 0) return true;
      try {
        const got = await this.client.sendCommand<number>([
          "WAIT",
          String(need),
          String(REPLICA_WAIT_MS),
        ]);
        if (got >= need) return true;
        // Fewer than asked: if replicas have gone meanwhile, those that are left are enough.
        await this.look();
        return got >= Math.min(this.wanted, this.present);
      } catch {
        return false;
      }
    });
    return this.pending;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
