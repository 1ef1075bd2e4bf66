// The page the server serves at `/`: sign in, my sessions (a live list: what another tab or
// device changes shows at once), open one and watch it live with the generations in progress
// that its signals announce, restore any session by clicking one of its images, and add
// messages. Everything goes through the TypeScript client (clients/typescript), as a web app
// would use it.
import {
  ApiError,
  CloseCode,
  LiveChatClient,
  LiveError,
  type Image,
  type LiveSession,
  type LiveSessions,
  type Message,
  type Session,
  type StateChange,
  type Status,
  type Summary,
  type SummaryImage,
} from "@livechat-sessions/client";

import { Generations } from "./generations.js";
import { SignIn, SignInNeeded } from "./sign-in.js";

const element = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  who: element("who"),
  signOut: element<HTMLButtonElement>("sign-out"),
  notice: element("notice"),
  signIn: element("sign-in"),
  tokenForm: element<HTMLFormElement>("token-form"),
  tokenInput: element<HTMLTextAreaElement>("token-input"),
  emulatorForm: element<HTMLFormElement>("emulator-form"),
  email: element<HTMLInputElement>("email"),
  password: element<HTMLInputElement>("password"),
  sessions: element("sessions"),
  statusFilter: element<HTMLSelectElement>("status-filter"),
  newSession: element<HTMLFormElement>("new-session"),
  newModel: element<HTMLInputElement>("new-model"),
  list: element<HTMLOListElement>("session-list"),
  more: element<HTMLButtonElement>("more"),
  session: element("session"),
  title: element("session-title"),
  status: element("status"),
  connection: element("connection"),
  presence: element("presence"),
  generations: element<HTMLOListElement>("generations"),
  messages: element<HTMLOListElement>("messages"),
  addMessage: element<HTMLFormElement>("add-message"),
  prompt: element<HTMLInputElement>("prompt"),
  urls: element<HTMLTextAreaElement>("urls"),
  complete: element<HTMLButtonElement>("complete"),
};

const signIn = new SignIn(document.querySelector<HTMLMetaElement>('meta[name="livechat-auth-emulator"]')?.content);
const client = new LiveChatClient({ getToken: ({ forceRefresh }) => signIn.token(forceRefresh) });

/** The session open on the page, with its socket and its generations in progress. */
let open: { id: string; live: LiveSession; generations: Generations; highlight?: string } | undefined;
/** My sessions, live (one list per status filter: a new filter is a new list). */
let list: LiveSessions | undefined;
/** The list's items, by session id, with the `seq` each shows: an unchanged one is kept as is. */
const items = new Map<string, { seq: number; item: HTMLLIElement }>();

// ---- messages for a person

function notify(text: string, kind: "info" | "error" = "info"): void {
  ui.notice.textContent = text;
  ui.notice.className = `notice${kind === "error" ? " error" : ""}`;
  ui.notice.hidden = false;
}

function clearNotice(): void {
  ui.notice.hidden = true;
}

/** Shows what went wrong, as a person would want to read it; a refused sign-in asks for a new one. */
function report(error: unknown): void {
  if (error instanceof SignInNeeded || (error instanceof ApiError && error.status === 401)) {
    signIn.forget();
    forgetCopies();
    showSignIn("Your sign-in has expired or is not valid. Please sign in again.");
  } else if (error instanceof ApiError && error.code === "not_found") {
    notify("That session does not exist, or it is not yours.", "error");
  } else if (error instanceof ApiError && error.code === "network") {
    notify(navigator.onLine ? "Cannot reach the server. Try again in a moment." : "You are offline. Try again once you are back online.", "error");
  } else if (error instanceof ApiError && error.status === 429) {
    notify(`Too many requests. Try again in ${error.retryAfter ?? 1} s.`, "error");
  } else if (error instanceof ApiError || error instanceof LiveError) {
    const field = error.field ? ` (${error.field})` : "";
    notify(`${capitalize(error.message)}${field}.`.replace(/\.\.$/, "."), "error");
  } else {
    notify(`Something went wrong: ${String(error)}`, "error");
  }
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

// ---- sign-in

function showSignIn(reason?: string): void {
  closeSession();
  closeList();
  ui.signIn.hidden = false;
  ui.sessions.hidden = true;
  ui.session.hidden = true;
  ui.signOut.hidden = true;
  ui.who.textContent = "";
  ui.emulatorForm.hidden = !signIn.emulator;
  if (reason) notify(reason, "error");
}

async function signedIn(): Promise<void> {
  ui.signIn.hidden = true;
  ui.sessions.hidden = false;
  ui.signOut.hidden = false;
  ui.who.textContent = signIn.uid ?? "";
  openList();
  const id = new URLSearchParams(location.search).get("session");
  if (id) await openSession(id, { push: false });
}

ui.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  try {
    signIn.useToken(ui.tokenInput.value.trim());
  } catch (error) {
    return report(error);
  }
  ui.tokenInput.value = "";
  clearNotice();
  void signedIn();
});

ui.emulatorForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const signUp = (event.submitter as HTMLButtonElement | null)?.value === "sign-up";
  signIn
    .withEmulator(ui.email.value, ui.password.value, signUp)
    .then(() => {
      clearNotice();
      return signedIn();
    })
    .catch((error: unknown) => notify(`Sign-in failed: ${error instanceof Error ? error.message : String(error)}`, "error"));
});

ui.signOut.addEventListener("click", () => {
  signIn.forget();
  forgetCopies();
  history.pushState(null, "", location.pathname);
  showSignIn();
});

// ---- my sessions

/** Opens the live list for the status filter chosen (closing the one open). */
function openList(): void {
  closeList();
  const status = (ui.statusFilter.value || undefined) as Status | undefined;
  const live = client.liveSessions({ limit: 10, status });
  list = live;
  live.on("sessions", (sessions) => {
    if (list === live) renderList(sessions);
  });
  live.on("state", (change) => {
    if (list !== live) return;
    if (change.state === "closed" && change.code === CloseCode.Unauthenticated) report(new SignInNeeded());
    else if (change.state === "closed" && change.code !== CloseCode.Normal) {
      notify(`The list stopped following your sessions (${change.code}${change.reason ? `: ${change.reason}` : ""}). Reload the page to try again.`, "error");
    }
  });
}

function closeList(): void {
  list?.close();
  list = undefined;
  items.clear();
  ui.list.replaceChildren();
  ui.more.hidden = true;
}

/** Shows the list in its order, keeping the items of sessions that did not change. */
function renderList(sessions: readonly Summary[]): void {
  const shown: HTMLLIElement[] = [];
  const ids = new Set<string>();
  for (const session of sessions) {
    ids.add(session.id);
    let held = items.get(session.id);
    if (held?.seq !== session.seq) {
      held = { seq: session.seq, item: sessionItem(session) };
      items.set(session.id, held);
    }
    shown.push(held.item);
  }
  for (const id of items.keys()) if (!ids.has(id)) items.delete(id);
  if (shown.length === 0) {
    shown.push(li("empty", ui.statusFilter.value ? "No sessions with this status." : "No sessions yet."));
  }
  ui.list.replaceChildren(...shown);
  ui.more.hidden = list?.nextCursor === undefined;
  markCurrent();
}

function sessionItem(session: Summary): HTMLLIElement {
  const item = li(open?.id === session.id ? "current" : "");
  item.dataset.sessionId = session.id;
  item.dataset.seq = String(session.seq);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "open";
  button.textContent = session.sessionId;
  const details = document.createElement("small");
  const images = session.totalImages === 1 ? "1 image" : `${session.totalImages} images`;
  details.textContent = `${session.model} · ${images} · ${session.status} · ${new Date(session.updatedAt).toLocaleString()}`;
  button.append(details);
  button.addEventListener("click", () => void openSession(session.id));
  const strip = document.createElement("div");
  strip.className = "strip";
  for (const image of session.lastImages) strip.append(thumbnail(image));
  item.append(button, strip);
  return item;
}

function thumbnail(image: SummaryImage): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "thumb";
  button.dataset.url = image.url;
  button.title = `Restore the session of image ${image.order}`;
  button.append(picture(image.url, `Image ${image.order}`));
  button.addEventListener("click", () => void restore(image.url));
  return button;
}

ui.statusFilter.addEventListener("change", () => openList());
ui.more.addEventListener("click", () => {
  ui.more.disabled = true;
  list
    ?.more()
    .catch(report)
    .finally(() => (ui.more.disabled = false));
});
ui.newSession.addEventListener("submit", (event) => {
  event.preventDefault();
  client
    .findOrCreateSession({ sessionId: `session-${Date.now()}`, model: ui.newModel.value.trim() })
    .then(({ sessionDocId }) => openSession(sessionDocId))
    .catch(report);
});

// ---- one session, live

/** Restore from history: the session holding this image URL. */
async function restore(url: string): Promise<void> {
  try {
    const session = await client.getSessionByImageUrl(url);
    const order = session.imageOrderMap[url];
    await openSession(session.id, { highlight: url, session });
    notify(`Restored “${session.sessionId}” from image ${order ?? ""}.`.replace(" .", "."));
  } catch (error) {
    report(error);
  }
}

/** Bumped by every openSession: one that awaited a read gives way to a later one. */
let openings = 0;

async function openSession(id: string, options: { push?: boolean; highlight?: string; session?: Session } = {}): Promise<void> {
  if (open?.id === id) {
    open.highlight = options.highlight;
    highlight(options.highlight);
    return;
  }
  closeSession();
  if (options.push !== false) history.pushState(null, "", `?session=${encodeURIComponent(id)}`);
  clearNotice();
  ui.session.hidden = false;
  ui.messages.replaceChildren();
  ui.title.textContent = "…";
  // A copy this tab held before a reload (or the one a restore just read) resumes from its seq:
  // only what it missed is sent. Without one, the client reads the session over REST
  // (compressed, revalidated) and attaches from its seq: never a whole session on the socket.
  const opening = ++openings;
  const held = stored(id) ?? options.session ?? (await client.getSession(id).catch(() => undefined));
  // Another session was opened meanwhile; a session that cannot be read is left to the socket (4004).
  if (opening !== openings) return;
  const live = client.live(id, held ? { session: held } : {});
  const generations = new Generations(ui.generations, (messageId) =>
    Boolean(live.session?.messages.some((message) => message.id === messageId && message.images.length > 0)),
  );
  open = { id, live, generations, highlight: options.highlight };
  if (held) render(held);
  live.on("snapshot", ({ session }) => {
    render(session);
    generations.changed();
  });
  live.on("signal", ({ data }) => generations.signal(data));
  live.on("event", (event) => {
    if (event.type === "session.deleted") {
      forgetCopy(id);
      ui.messages.replaceChildren();
      notify("This session was deleted.", "error");
      return;
    }
    const session = live.session;
    if (session === undefined) return;
    if (event.type === "message.added") ui.messages.append(messageItem(event.message));
    else if (event.type === "image.added") {
      const message = session.messages.find((m) => m.id === event.messageId);
      const images = ui.messages.querySelector(`[data-message-id="${CSS.escape(event.messageId)}"] .images`);
      if (message && images) images.append(imageButton(event.image, message));
    }
    generations.changed();
    header(session);
  });
  // The list follows the session by itself (its own socket).
  live.on("session", (session) => keep(session));
  live.on("presence", ({ connections }) => {
    ui.presence.textContent = connections === 1 ? "only this tab" : `${connections} tabs open`;
  });
  live.on("state", (change) => connection(change));
  connection({ state: live.state });
  markCurrent();
}

function closeSession(): void {
  openings += 1;
  open?.live.close();
  open?.generations.clear();
  open = undefined;
  ui.session.hidden = true;
  markCurrent();
}

function render(session: Session): void {
  header(session);
  ui.messages.replaceChildren(...session.messages.map(messageItem));
  highlight(open?.highlight);
}

function header(session: Session): void {
  ui.title.textContent = session.sessionId;
  ui.status.textContent = session.status;
  ui.complete.disabled = session.status === "completed";
}

function messageItem(message: Message): HTMLLIElement {
  const item = li();
  item.dataset.messageId = message.id;
  const prompt = document.createElement("p");
  prompt.className = "prompt";
  prompt.textContent = message.prompt || "(no prompt)";
  const time = document.createElement("time");
  time.dateTime = message.timestamp;
  time.textContent = new Date(message.timestamp).toLocaleTimeString();
  prompt.append(time);
  const images = document.createElement("div");
  images.className = "images";
  images.append(...message.images.map((image) => imageButton(image, message)));
  item.append(prompt, images);
  return item;
}

function imageButton(image: Image, message: Message): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "image";
  button.dataset.order = String(image.order);
  button.dataset.url = image.url;
  button.title = `Image ${image.order}: restore its session`;
  const order = document.createElement("span");
  order.textContent = `#${image.order}`;
  button.append(picture(image.url, `Image ${image.order}: ${message.prompt}`), order);
  button.addEventListener("click", () => void restore(image.url));
  return button;
}

function highlight(url: string | undefined): void {
  for (const image of ui.messages.querySelectorAll<HTMLElement>(".image")) {
    image.classList.toggle("restored", url !== undefined && image.dataset.url === url);
  }
  if (url) ui.messages.querySelector(".restored")?.scrollIntoView({ block: "nearest" });
}

function connection(change: StateChange): void {
  const text: Record<StateChange["state"], string> = {
    connecting: "connecting…",
    live: "live",
    reconnecting: "reconnecting…",
    closed: "closed",
  };
  ui.connection.textContent = text[change.state];
  // Behind a proxy that refuses WebSockets the client follows the session on its event stream.
  if (change.state === "live" && open?.live.transport === "sse") ui.connection.textContent = "live (event stream)";
  ui.connection.dataset.transport = open?.live.transport ?? "";
  if (change.state === "live") {
    if (ui.notice.dataset.about === "connection") clearNotice();
  } else if (change.state === "reconnecting") {
    const seconds = Math.max(1, Math.round((change.retryInMs ?? 0) / 1000));
    notify(navigator.onLine ? `Connection lost. Reconnecting in ${seconds} s…` : "You are offline. The session reconnects when the network is back.");
    ui.notice.dataset.about = "connection";
    return;
  } else if (change.state === "closed" && change.code === CloseCode.NotFound) {
    if (open) forgetCopy(open.id);
    ui.messages.replaceChildren();
    ui.title.textContent = "";
    ui.status.textContent = "";
    notify("This session does not exist any more, or it is not yours.", "error");
  } else if (change.state === "closed" && change.code === CloseCode.Unauthenticated) {
    report(new SignInNeeded());
  } else if (change.state === "closed" && change.code !== CloseCode.Normal) {
    notify(`The live connection stopped (${change.code}${change.reason ? `: ${change.reason}` : ""}). Reload the page to try again.`, "error");
  }
  delete ui.notice.dataset.about;
}

ui.addMessage.addEventListener("submit", (event) => {
  event.preventDefault();
  const live = open?.live;
  if (!live) return;
  const images = ui.urls.value
    .split("\n")
    .map((url) => url.trim())
    .filter((url) => url !== "")
    .map((url) => ({ url }));
  const submit = ui.addMessage.querySelector<HTMLButtonElement>('button[type="submit"]');
  if (submit) submit.disabled = true;
  live
    .addMessage({ prompt: ui.prompt.value, images })
    .then(() => {
      ui.prompt.value = "";
      ui.urls.value = "";
    })
    .catch(report)
    .finally(() => {
      if (submit) submit.disabled = false;
    });
});

ui.complete.addEventListener("click", () => {
  open?.live.complete().catch(report);
});

// ---- the list entry of the open session

function markCurrent(): void {
  for (const item of ui.list.querySelectorAll<HTMLLIElement>("li[data-session-id]")) {
    item.classList.toggle("current", item.dataset.sessionId === open?.id);
  }
}

// ---- what a tab keeps across a reload

const storageKey = (id: string) => `livechat.session.${id}`;
let keeping: ReturnType<typeof setTimeout> | undefined;
let latest: Session | undefined;

function keep(session: Session): void {
  latest = session;
  keeping ??= setTimeout(flush, 200);
}

function flush(): void {
  keeping = undefined;
  if (latest === undefined) return;
  try {
    sessionStorage.setItem(storageKey(latest.id), JSON.stringify(latest));
  } catch {
    // Storage full or disabled: a reload then starts from a snapshot.
  }
}

/** Drops this tab's copy of a session (deleted, or not the user's). */
function forgetCopy(id: string): void {
  if (latest?.id === id) latest = undefined;
  sessionStorage.removeItem(storageKey(id));
}

/** Drops every copy this tab holds: the next user of the tab must not see them. */
function forgetCopies(): void {
  latest = undefined;
  clearTimeout(keeping);
  keeping = undefined;
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith("livechat.session.")) sessionStorage.removeItem(key);
  }
}

function stored(id: string): Session | undefined {
  try {
    const text = sessionStorage.getItem(storageKey(id));
    return text ? (JSON.parse(text) as Session) : undefined;
  } catch {
    return undefined;
  }
}

addEventListener("pagehide", flush);

// ---- helpers and start

function li(className = "", text?: string): HTMLLIElement {
  const item = document.createElement("li");
  if (className) item.className = className;
  if (text !== undefined) item.textContent = text;
  return item;
}

function picture(url: string, alt: string): HTMLImageElement {
  const image = document.createElement("img");
  image.src = url;
  image.alt = alt;
  image.loading = "lazy";
  image.decoding = "async";
  return image;
}

addEventListener("popstate", () => {
  const id = new URLSearchParams(location.search).get("session");
  if (id) void openSession(id, { push: false });
  else closeSession();
});

addEventListener("offline", () => notify("You are offline."));
addEventListener("online", () => {
  if (ui.notice.textContent === "You are offline.") clearNotice();
});

try {
  signIn.fromFragment();
} catch (error) {
  report(error);
}
if (signIn.signedIn) void signedIn();
else showSignIn();
