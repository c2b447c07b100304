/** A small typed event emitter: the SDK has no runtime dependencies. */
export type Listener<T> = (payload: T) => void;

export class Emitter<E extends object> {
  private listeners: { [K in keyof E]?: Set<Listener<E[K]>> } = {};

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners[event];
    if (!set) {
      set = new Set();
      this.listeners[event] = set;
    }
    set.add(fn);
    return () => this.off(event, fn);
  }

  off<K extends keyof E>(event: K, fn: Listener<E[K]>): void {
    this.listeners[event]?.delete(fn);
  }

  /** Calls every listener; a throwing listener does not stop the others. */
  protected emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.listeners[event];
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}
