import { HivecastError } from "./errors.js";

/** The rejection a load gets when its caller aborts it. */
export function abortedError(): HivecastError {
  return new HivecastError("ABORTED", "The request was aborted", { fatal: true });
}

/** The rejection a load gets when the engine is destroyed under it. */
export function destroyedError(): HivecastError {
  return new HivecastError("DESTROYED", "The engine was destroyed", { fatal: true });
}

/**
 * A controller aborted when any parent signal aborts (with that parent's reason). `release`
 * detaches it from the parents so finished requests leave no listeners behind.
 */
export function childController(...parents: ReadonlyArray<AbortSignal | undefined>): {
  controller: AbortController;
  release: () => void;
} {
  const controller = new AbortController();
  const attached: Array<[AbortSignal, () => void]> = [];
  for (const parent of parents) {
    if (!parent) continue;
    if (parent.aborted) {
      controller.abort(parent.reason);
      break;
    }
    const onAbort = (): void => controller.abort(parent.reason);
    parent.addEventListener("abort", onAbort, { once: true });
    attached.push([parent, onAbort]);
  }
  const release = (): void => {
    for (const [parent, onAbort] of attached) parent.removeEventListener("abort", onAbort);
    attached.length = 0;
  };
  return { controller, release };
}

/** Throws the signal's reason when it is aborted (STYLE.md §7: re-check after every await). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
