// Generations in progress in the open session, from its signals: the protocol's convention (a
// convention, not a rule the server enforces) is a signal `data` of
//   {kind: "generation", generation, state: started|progress|preview|failed|done,
//    prompt?, progress? (0..1), previewUrl?, messageId?, error?}.
// A generation shows from its first signal until it fails, or until it is `done` and the session
// holds an image of the message `done` names, whichever of the two comes last (the image's
// `message.added` or `image.added` and the `done` may arrive in either order); one without news
// for about two minutes is dropped: its sender may have died (protocol/README.md, "Generations
// in progress").
//
// Signals come from other sockets of the user's own session, but they are still read as any
// input is: the shape is checked, text is shown as text, a preview must be an http(s) URL.

type State = "started" | "progress" | "preview" | "failed" | "done";

interface Generation {
  id: string;
  state: State;
  prompt?: string;
  progress?: number;
  previewUrl?: string;
  messageId?: string;
  error?: string;
}

interface Shown {
  generation: Generation;
  item: HTMLLIElement;
  /** When this tab last heard of it. */
  lastNews: number;
  /** Set once it has ended: the time its item leaves. */
  ending?: ReturnType<typeof setTimeout>;
}

const STATES = new Set<State>(["started", "progress", "preview", "failed", "done"]);
/** A generation without news for this long is dropped. */
const STALE_MS = 120_000;
/** How long a failure stays on screen. */
const FAILED_SHOWN_MS = 8_000;

/** Reads a signal's `data` as a generation, or undefined when it is something else. */
export function generationOf(data: unknown): Generation | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (d.kind !== "generation" || typeof d.generation !== "string" || d.generation === "") return undefined;
  if (typeof d.state !== "string" || !STATES.has(d.state as State)) return undefined;
  const text = (value: unknown, max: number) => (typeof value === "string" && value !== "" ? value.slice(0, max) : undefined);
  const progress = typeof d.progress === "number" && Number.isFinite(d.progress) ? Math.min(1, Math.max(0, d.progress)) : undefined;
  const preview = text(d.previewUrl, 2048);
  return {
    id: d.generation.slice(0, 128),
    state: d.state as State,
    prompt: text(d.prompt, 500),
    progress,
    previewUrl: preview !== undefined && /^https?:\/\//i.test(preview) ? preview : undefined,
    messageId: text(d.messageId, 128),
    error: text(d.error, 300),
  };
}

export class Generations {
  readonly #list: HTMLOListElement;
  readonly #shown = new Map<string, Shown>();
  /** Generations that ended: a late signal of one does not bring it back. */
  readonly #ended = new Set<string>();
  /** Whether the session, as this tab holds it, has an image of this message. */
  readonly #hasImage: (messageId: string) => boolean;
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(list: HTMLOListElement, hasImage: (messageId: string) => boolean) {
    this.#list = list;
    this.#hasImage = hasImage;
    this.#list.replaceChildren();
    this.#list.hidden = true;
    this.#sweep = setInterval(() => this.#dropStale(), 5_000);
  }

  /** A signal of the session: shown when it is a generation's. */
  signal(data: unknown): void {
    const next = generationOf(data);
    if (next === undefined || this.#ended.has(next.id)) return;
    const now = Date.now();
    let shown = this.#shown.get(next.id);
    if (shown === undefined) {
      const item = document.createElement("li");
      item.className = "generation";
      item.dataset.generation = next.id;
      shown = { generation: next, item, lastNews: now };
      this.#shown.set(next.id, shown);
      this.#list.append(item);
      this.#list.hidden = false;
    } else {
      // What a signal leaves out (the prompt of a `progress`) is kept from the earlier ones.
      const held = shown.generation;
      shown.generation = {
        id: next.id,
        // Once done, it stays done (a straggling `progress` does not make it wait for a `done` again).
        state: held.state === "done" && next.state !== "failed" ? "done" : next.state,
        prompt: next.prompt ?? held.prompt,
        progress: next.progress ?? held.progress,
        previewUrl: next.previewUrl ?? held.previewUrl,
        messageId: next.messageId ?? held.messageId,
        error: next.error,
      };
      shown.lastNews = now;
    }
    this.#render(shown);
    if (shown.generation.state === "failed") this.#end(shown, FAILED_SHOWN_MS);
    else this.#endIfCommitted(shown);
  }

  /**
   * The session changed (an image committed, a snapshot replaced it): the generations that are
   * done and whose message now has an image are over.
   */
  changed(): void {
    for (const shown of this.#shown.values()) this.#endIfCommitted(shown);
  }

  /** Stops: the session was closed. */
  clear(): void {
    clearInterval(this.#sweep);
    for (const shown of this.#shown.values()) clearTimeout(shown.ending);
    this.#shown.clear();
    this.#list.replaceChildren();
    this.#list.hidden = true;
  }

  #render(shown: Shown): void {
    const g = shown.generation;
    const item = shown.item;
    item.classList.toggle("failed", g.state === "failed");
    const label = document.createElement("p");
    if (g.state === "failed") {
      label.textContent = `Generation failed${g.error ? `: ${g.error}` : ""}`;
    } else {
      const what = g.prompt ? `Generating “${g.prompt}”` : "Generating an image";
      const percent = g.progress !== undefined ? ` ${Math.round(g.progress * 100)}%` : "";
      label.textContent = g.state === "done" ? `${what}: done, saving…` : `${what}…${percent}`;
    }
    const parts: HTMLElement[] = [label];
    if (g.state !== "failed") {
      const bar = document.createElement("progress");
      bar.max = 1;
      if (g.state === "done") bar.value = 1;
      else if (g.progress !== undefined) bar.value = g.progress;
      // Without a value, the bar is indeterminate: something is happening, how much is unknown.
      parts.push(bar);
    }
    if (g.previewUrl && g.state !== "failed") {
      const preview = document.createElement("img");
      preview.src = g.previewUrl;
      preview.alt = "Preview of the image being generated";
      preview.decoding = "async";
      parts.push(preview);
    }
    item.replaceChildren(...parts);
  }

  #endIfCommitted(shown: Shown): void {
    const { state, messageId } = shown.generation;
    if (state !== "done" || shown.ending !== undefined) return;
    // A `done` without a message has no image to wait for.
    if (messageId === undefined || this.#hasImage(messageId)) this.#end(shown, 0);
  }

  /** Ends a generation: no later signal of it is shown; its item leaves after `delayMs`. */
  #end(shown: Shown, delayMs: number): void {
    const id = shown.generation.id;
    this.#ended.add(id);
    if (this.#ended.size > 1_000) this.#ended.delete(this.#ended.values().next().value as string);
    clearTimeout(shown.ending);
    const leave = () => {
      if (this.#shown.get(id) !== shown) return;
      this.#shown.delete(id);
      shown.item.remove();
      this.#list.hidden = this.#shown.size === 0;
    };
    if (delayMs <= 0) leave();
    else shown.ending = setTimeout(leave, delayMs);
  }

  #dropStale(): void {
    const now = Date.now();
    for (const shown of this.#shown.values()) {
      if (now - shown.lastNews > STALE_MS) this.#end(shown, 0);
    }
  }
}
