// Generations in progress in the open session, from its signals: the protocol's convention (a
// convention, not a rule the server enforces) is a signal `data` of
//   {kind: "generation", generation, state: started|progress|preview|failed|done,
//    prompt?, progress? (0..1), previewUrl?, messageId?, error?}.
// A generation shows from its first signal until it fails, or until the image of its `messageId`
// commits (an `image.added` or `message.added` of that message, seen by this tab). A `done` whose
// commit this tab has not seen (it may have come before the tab attached) ends it after a short
// wait. One without news for two minutes is dropped: its sender may have died.
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
  /** When this tab first heard of it, and last. */
  since: number;
  lastNews: number;
  /** Set once it has ended: the time its item leaves. */
  ending?: ReturnType<typeof setTimeout>;
}

const STATES = new Set<State>(["started", "progress", "preview", "failed", "done"]);
/** A generation without news for this long is dropped. */
const STALE_MS = 120_000;
/** How long `done` waits for the commit of its message, when this tab has not seen it. */
const DONE_GRACE_MS = 10_000;
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
  /** messageId → when this tab saw an image of it commit. */
  readonly #commits = new Map<string, number>();
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(list: HTMLOListElement) {
    this.#list = list;
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
      shown = { generation: next, item, since: now, lastNews: now };
      this.#shown.set(next.id, shown);
      this.#list.append(item);
      this.#list.hidden = false;
    } else {
      // What a signal leaves out (the prompt of a `progress`) is kept from the earlier ones.
      const held = shown.generation;
      shown.generation = {
        id: next.id,
        state: next.state,
        prompt: next.prompt ?? held.prompt,
        progress: next.progress ?? held.progress,
        previewUrl: next.previewUrl ?? held.previewUrl,
        messageId: next.messageId ?? held.messageId,
        error: next.error,
      };
      shown.lastNews = now;
    }
    this.#render(shown);
    const { state, messageId } = shown.generation;
    if (state === "failed") {
      this.#end(shown, FAILED_SHOWN_MS);
    } else if (state === "done") {
      const committed = messageId !== undefined && (this.#commits.get(messageId) ?? -1) >= shown.since;
      this.#end(shown, messageId === undefined || committed ? 0 : DONE_GRACE_MS);
    }
  }

  /** An image of `messageId` committed: the generation that was making it is over. */
  committed(messageId: string): void {
    this.#commits.set(messageId, Date.now());
    for (const shown of this.#shown.values()) {
      if (shown.generation.messageId === messageId) this.#end(shown, 0);
    }
  }

  /** The session's messages after a snapshot: a generation done and committed meanwhile ends. */
  snapshot(messageIds: Iterable<string>): void {
    const ids = new Set(messageIds);
    for (const shown of this.#shown.values()) {
      const { state, messageId } = shown.generation;
      if (state === "done" && messageId !== undefined && ids.has(messageId)) this.#end(shown, 0);
    }
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
    for (const [messageId, at] of this.#commits) {
      if (now - at > STALE_MS) this.#commits.delete(messageId);
    }
  }
}
