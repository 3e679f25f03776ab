/** A clock and one-shot timers that move only when a test says, for code that takes `now` and `setTimer`. */

interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

export class FakeClock {
  millis = 0;
  #timers: Timer[] = [];
  #seq = 0;

  readonly now = (): number => this.millis;

  readonly setTimer = (callback: () => void, millis: number): () => void => {
    const timer = { at: this.millis + Math.max(0, millis), seq: this.#seq++, callback };
    this.#timers.push(timer);
    return () => {
      const at = this.#timers.indexOf(timer);
      if (at >= 0) this.#timers.splice(at, 1);
    };
  };

  /** Timers not yet fired, as delays from now. */
  pending(): number[] {
    return this.#timers.map((timer) => timer.at - this.millis).sort((a, b) => a - b);
  }

  /**
   * Moves the clock forward by `millis`, firing each timer due on the way at its own time and
   * letting the promises it settles run before the next one.
   */
  async advance(millis: number): Promise<void> {
    const target = this.millis + millis;
    await settle();
    for (;;) {
      const due = this.#timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers.splice(this.#timers.indexOf(due), 1);
      this.millis = due.at;
      due.callback();
      await settle();
    }
    this.millis = target;
    await settle();
  }
}

/** Lets pending promise callbacks run: one macrotask turn. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
