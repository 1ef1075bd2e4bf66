// Who the page acts for: a token (pasted, or from a link `#token=…` as `livechat-sessions token
// --open` prints), or an account of the Firebase Auth emulator when the server names one. Kept in
// localStorage, so that every tab of the user shares it.

/** No usable sign-in: the person must sign in (again). */
export class SignInNeeded extends Error {
  override readonly name = "SignInNeeded";
  constructor(message = "sign-in needed") {
    super(message);
  }
}

type Held =
  | { kind: "token"; token: string }
  | { kind: "emulator"; idToken: string; refreshToken: string; expiresAt: number };

const KEY = "livechat.sign-in";
/** Emulator tokens are refreshed this long before they expire. */
const MARGIN_MS = 60_000;

export class SignIn {
  constructor(
    /** The Firebase Auth emulator's origin, when the server is configured for it. */
    readonly emulator: string | undefined,
  ) {}

  get signedIn(): boolean {
    return this.#held() !== undefined;
  }

  /** The user's id, as the server will see it (the token's `sub`). */
  get uid(): string | undefined {
    const held = this.#held();
    if (held === undefined) return undefined;
    return claims(held.kind === "token" ? held.token : held.idToken)?.sub;
  }

  /** Takes a token from the page's fragment (`#token=…`), and removes it from the address bar. */
  fromFragment(): void {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!match?.[1]) return;
    history.replaceState(history.state, "", location.pathname + location.search);
    this.useToken(decodeURIComponent(match[1]));
  }

  useToken(token: string): void {
    const payload = claims(token);
    if (payload === undefined) throw new SignInNeeded("That is not a token: a token has three parts separated by dots.");
    if (typeof payload.exp === "number" && payload.exp * 1000 <= Date.now()) {
      throw new SignInNeeded("That token has expired. Make a new one.");
    }
    this.#store({ kind: "token", token });
  }

  /** Signs in to the emulator's account for this email, or creates it (`signUp`). */
  async withEmulator(email: string, password: string, signUp: boolean): Promise<void> {
    const body = JSON.stringify({ email, password, returnSecureToken: true });
    const method = signUp ? "signUp" : "signInWithPassword";
    const answer = await this.#emulator(`identitytoolkit.googleapis.com/v1/accounts:${method}`, body);
    if (answer.error || !answer.idToken || !answer.refreshToken) {
      const reason = answer.error?.message ?? "no token in the answer";
      throw new Error(EMULATOR_ERRORS[reason.split(" ")[0] ?? ""] ?? reason.toLowerCase().replaceAll("_", " "));
    }
    this.#store({
      kind: "emulator",
      idToken: answer.idToken,
      refreshToken: answer.refreshToken,
      expiresAt: Date.now() + Number(answer.expiresIn ?? 3600) * 1000,
    });
  }

  /** The token to send; an emulator token is refreshed when asked or when it is about to expire. */
  async token(forceRefresh: boolean): Promise<string> {
    const held = this.#held();
    if (held === undefined) throw new SignInNeeded();
    if (held.kind === "token") {
      const exp = claims(held.token)?.exp;
      if (typeof exp === "number" && exp * 1000 <= Date.now()) throw new SignInNeeded("Your token has expired.");
      return held.token;
    }
    if (!forceRefresh && held.expiresAt - Date.now() > MARGIN_MS) return held.idToken;
    const answer = await this.#emulator(
      "securetoken.googleapis.com/v1/token",
      new URLSearchParams({ grant_type: "refresh_token", refresh_token: held.refreshToken }).toString(),
      "application/x-www-form-urlencoded",
    );
    if (!answer.id_token || !answer.refresh_token) throw new SignInNeeded("Your sign-in has expired.");
    this.#store({
      kind: "emulator",
      idToken: answer.id_token,
      refreshToken: answer.refresh_token,
      expiresAt: Date.now() + Number(answer.expires_in ?? 3600) * 1000,
    });
    return answer.id_token;
  }

  forget(): void {
    localStorage.removeItem(KEY);
  }

  #held(): Held | undefined {
    try {
      const text = localStorage.getItem(KEY);
      return text ? (JSON.parse(text) as Held) : undefined;
    } catch {
      return undefined;
    }
  }

  #store(held: Held): void {
    localStorage.setItem(KEY, JSON.stringify(held));
  }

  async #emulator(path: string, body: string, contentType = "application/json"): Promise<EmulatorAnswer> {
    if (!this.emulator) throw new Error("no Firebase Auth emulator is configured");
    // The emulator accepts any API key.
    const response = await fetch(`${this.emulator}/${path}?key=emulator`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    return (await response.json()) as EmulatorAnswer;
  }
}

/** What the emulator's error codes mean, for a person. */
const EMULATOR_ERRORS: Record<string, string> = {
  EMAIL_NOT_FOUND: "no account has this email: create one",
  INVALID_LOGIN_CREDENTIALS: "wrong email or password",
  INVALID_PASSWORD: "wrong password",
  EMAIL_EXISTS: "an account with this email exists already: sign in",
  WEAK_PASSWORD: "the password is too weak (6 characters at least)",
};

interface EmulatorAnswer {
  idToken?: string;
  refreshToken?: string;
  expiresIn?: string;
  id_token?: string;
  refresh_token?: string;
  expires_in?: string;
  error?: { message: string };
}

/** A JWT's claims (unverified: only to show who is signed in and when the token ends). */
function claims(token: string): { sub?: string; exp?: number } | undefined {
  const part = token.split(".")[1];
  if (token.split(".").length !== 3 || part === undefined) return undefined;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === "object" && parsed !== null ? (parsed as { sub?: string; exp?: number }) : undefined;
  } catch {
    return undefined;
  }
}
