// Generated from protocol/openapi.yaml by scripts/generate.js: do not edit by hand.

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Liveness check
         * @description Answers 200 while the server runs. Needs no authentication.
         */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List the caller's sessions
         * @description The caller's sessions, `updatedAt` descending (ties broken by `id`, descending): full
         *     session objects (`Session`), or with `view=summary` summaries (`SessionSummary`), which
         *     is what a history list needs and much smaller. `nextCursor` is present only when more
         *     sessions remain; pass it back as `cursor` for the next page, with the same `status` and
         *     `view`. The cursor is opaque and bound to the user it was issued to: a malformed cursor,
         *     or another user's, is 400 with `field: cursor`. An invalid `limit`, `status` or `view`
         *     is 400 naming that parameter. Unknown parameters are ignored.
         *     Also served at `/api/live-chat-sessions/` (trailing slash).
         */
        get: operations["listSessions"];
        put?: never;
        /**
         * Create a session
         * @description Creates a session for the caller, `status` `active`, `seq` 0, `startedAt` defaulting to
         *     now. `(uid, sessionId)` is unique per user (not globally): a second create of the same
         *     pair changes nothing and is 409 `conflict` with the existing `sessionDocId` in `data`
         *     (use `POST /find-or-create` for an idempotent create). Unknown body fields are ignored.
         *     The body is read as JSON whatever its `Content-Type` (the web client sends `text/plain`).
         *     Also served at `/api/live-chat-sessions/` (trailing slash).
         */
        post: operations["createSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/find-or-create": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Find the caller's session by sessionId, or create it
         * @description Returns the caller's session with this `sessionId`, creating it (from the same body as
         *     `POST /`) when there is none; `created` says whether this call made it. An existing
         *     session is returned unchanged (the other body fields are then ignored). Atomic and
         *     idempotent: any number of concurrent or retried calls yield one session. The body is
         *     read as JSON whatever its `Content-Type` (the web client sends `text/plain`).
         */
        post: operations["findOrCreateSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/by-image-url": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Restore a session from one of its images
         * @description The caller's most recently updated session holding an image whose `url`, `originalUrl`
         *     or `firebaseUrl` equals `imageUrl` exactly (no normalisation). Other users' sessions
         *     never match. A point lookup, not a scan. No match (including a URL longer than the URL
         *     limit) is 404; a missing or empty `imageUrl` is 400 with `field: imageUrl`.
         *
         *     The answer carries an `ETag`; sent back in `If-None-Match`, it is answered 304 with no
         *     body while the session this URL restores is unchanged (see `getSession`).
         */
        get: operations["getSessionByImageUrl"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/live": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Open the user's list socket
         * @description Upgrades to a user socket (`protocol/README.md`, "The user's list"): it pushes the first
         *     page of the caller's list as summaries (`sessions`), then every change of any of the
         *     caller's sessions (`session.changed`, `session.removed`). This literal path is not a
         *     session id. The token comes in the `Authorization` header, the session cookie, or
         *     (browsers) a first `auth` frame; refusals after the upgrade are close codes (4001, …).
         *     A request that is not a WebSocket upgrade is 400 (`field: Upgrade`); a `status` or
         *     `limit` that the list route would refuse is 400 naming it. Refused before the upgrade
         *     with 403 `forbidden`: an `Origin` not in `--cors-origins` (when set) and not the
         *     server's own, and a cookie-authenticated upgrade from any origin but a listed one or the
         *     server's own.
         */
        get: operations["liveSessions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follow the user's list as Server-Sent Events
         * @description The user socket's pushes (`sessions`, `session.changed`, `session.removed`) as a
         *     `text/event-stream`, for clients behind proxies that refuse WebSocket upgrades
         *     (`protocol/README.md`, "Server-Sent Events"): each push an event whose `event:` is its
         *     type and whose `data:` is its frame; a comment (`: ping`) at least every `--ws-ping-ms`;
         *     the stream ends with `event: close`, `data: {"code", "reason"}`, the code a socket would
         *     be closed with. Authenticated by header or session cookie (from a listed origin); counts
         *     as a socket in the user's quota (429 beyond it). Never compressed; sent with
         *     `Cache-Control: no-cache` and `X-Accel-Buffering: no`. This literal path is not a session
         *     id.
         */
        get: operations["listEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /**
         * Get a session
         * @description The session with this `sessionDocId`. Unknown, deleted and other users' sessions are
         *     all 404, indistinguishably.
         *
         *     The answer carries an `ETag` (a digest of its bytes: any change to the session, even of
         *     a field, gives a new one) and `Cache-Control: private, no-cache`. A request whose
         *     `If-None-Match` names the session as it stands is answered 304 with no body, so a
         *     client that re-opens a session it holds pays for no transfer. Ownership is checked
         *     first: a tag never opens another user's session (404).
         */
        get: operations["getSession"];
        put?: never;
        post?: never;
        /**
         * Delete a session
         * @description Deletes the session, its messages and images, and its image lookups (so
         *     `by-image-url` no longer finds it). Afterwards the id is 404 everywhere, including for a
         *     repeated delete. Other users' sessions are 404.
         */
        delete: operations["deleteSession"];
        options?: never;
        head?: never;
        /**
         * Change a session's whitelisted fields
         * @description Only `status`, `completedAt`, `model`, `frameSize` and `style` may change; any other
         *     field (`uid`, `images`, `sessionId`, …) is 400 naming it, and nothing changes.
         *     `status: active` clears `completedAt` (an explicit non-null `completedAt` with it is
         *     400); `status: completed` without `completedAt` keeps the session's existing
         *     `completedAt` or sets it to now (`completedAt: null` with it is 400). Without `status`,
         *     the session's own status decides: a `completedAt` for an active session, or
         *     `completedAt: null` for a completed one, contradicts the session as it stands and is
         *     409 `conflict` (with `data.sessionDocId`), and nothing changes. `frameSize` and
         *     `style` are cleared by `null` or `""`; `model` cannot be null or empty. A request that
         *     changes nothing (an empty body, or values already in place) is answered 200 with the
         *     current `seq`, unchanged; otherwise `seq` grows by one. Other users' sessions are 404.
         *     The body is read as JSON whatever its `Content-Type` (the web client sends `text/plain`).
         */
        patch: operations["updateSession"];
        trace?: never;
    };
    "/api/live-chat-sessions/{id}/messages": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Append a message with its images
         * @description Appends a message; its images get `order`s continuing from the session's last,
         *     consecutive within the message and gap-free across the session under any concurrency.
         *     Answered after the commit with the message's id, its images' orders and the session's
         *     `seq`.
         *
         *     Idempotent retries: an image whose `id` or `url` is already in the session is not added
         *     again. A message whose `messageId` already exists, or whose (non-empty) images all exist
         *     already, is a retry: it changes nothing and is answered 200 with the original
         *     `messageId` and `orders` (and the session's current `seq`). Clients should send a
         *     `messageId` so that a retry after a 503 or a lost answer is safe.
         *
         *     Reactivation: an append that adds something to a `completed` or `failed` session makes
         *     it `active` again and clears `completedAt`.
         *
         *     Adding images beyond the per-session maximum is 409 `session_full` (with `maxImages`),
         *     and nothing is added. Other users' sessions are 404. The body is read as JSON whatever
         *     its `Content-Type` (the web client sends `text/plain`); unknown fields are ignored.
         */
        post: operations["appendMessage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/{id}/complete": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Mark a session completed
         * @description Sets `status` to `completed` and `completedAt` to the given time (default now).
         *     Completing an already completed session without a new `completedAt` (or with the same
         *     one) changes nothing and answers the current `seq`. A later append reactivates the
         *     session. Other users' sessions are 404. The body is optional and read as JSON whatever
         *     its `Content-Type` (the web client sends `text/plain`).
         */
        patch: operations["completeSession"];
        trace?: never;
    };
    "/api/live-chat-sessions/{id}/signals": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a signal to the session's sockets
         * @description Sends `data` to every socket of the session, on every instance, as a `signal` push with
         *     `from: "rest"` (`protocol/README.md`, "Signals"): for a backend that holds the user's
         *     token, such as a generation worker reporting progress. Nothing is stored, the session
         *     does not change (`seq` and `updatedAt` stay as they are), and a socket that is not
         *     attached at that moment never receives it (at most once). Answered with the session's
         *     `seq` when the signal was sent. `data` is required and may be any JSON value, at most
         *     4,096 bytes in its compact JSON encoding by default (`--max-signal-bytes`); larger is
         *     413 `payload_too_large`. Other users' sessions are 404. Counts against the per-user
         *     request rate like every request. The body is read as JSON whatever its `Content-Type`;
         *     unknown fields are ignored.
         */
        post: operations["sendSignal"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/{id}/events": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /**
         * Follow a session as Server-Sent Events
         * @description The session socket's pushes as a `text/event-stream` (`protocol/README.md`, "Server-Sent
         *     Events"): `event:` the push's type, `id:` its `seq` for the pushes one can resume from
         *     (`snapshot`, the events, `resumed`), `data:` its frame. Without a position it starts
         *     with a `snapshot`; with `Last-Event-ID` (as `EventSource` sends on reconnecting) or
         *     `sinceSeq`, with the missed events and `resumed`, or a `snapshot` where they cannot be
         *     replayed. A comment (`: ping`) comes at least every `--ws-ping-ms`. The stream ends with
         *     `event: close`, `data: {"code", "reason"}`: 4004 when the session is unknown or deleted,
         *     4001 when the token expires, 4008 for a reader too slow, 1001 at shutdown. Commands go
         *     over REST. Authenticated by header or session cookie (from a listed origin); counts as
         *     a socket in the user's quota (429 beyond it). Never compressed; sent with
         *     `Cache-Control: no-cache` and `X-Accel-Buffering: no`.
         */
        get: operations["sessionEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/live-chat-sessions/{id}/live": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /**
         * Open the session's WebSocket
         * @description Upgrades to the WebSocket of `protocol/README.md`. The token comes in the
         *     `Authorization` header, the session cookie, or (browsers) a first `auth` frame; refusals
         *     after the upgrade are close codes (4001, 4004, …). A request that is not a WebSocket
         *     upgrade is 400 (`field: Upgrade`), an id that cannot be a session's 404. Refused before the upgrade with 403
         *     `forbidden`: an `Origin` not in `--cors-origins` (when set) and not the server's own, and
         *     a cookie-authenticated upgrade from any origin but a listed one or the server's own.
         */
        get: operations["liveSession"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * Format: date-time
         * @description RFC 3339 UTC with milliseconds, as the server writes every timestamp.
         * @example 2025-01-15T10:00:00.000Z
         */
        Timestamp: string;
        /**
         * @description A session's status.
         * @enum {string}
         */
        Status: "active" | "completed" | "failed";
        /**
         * @description A session as every route returns it. `messages` nest their images; `images` is every
         *     image of the session flattened and sorted by `order`, each with its message's prompt,
         *     timestamp and id (what the web client reads); `imageUrls` (in order) and
         *     `imageOrderMap` (url → order) serve quick lookups by URL. `completedAt` is present
         *     only when set.
         * @example {
         *       "id": "Xk2p9QvR7sT1uW3yZ5aB",
         *       "sessionId": "session-1736935200000",
         *       "uid": "user-123",
         *       "model": "flux-kontext-pro",
         *       "frameSize": "1024x1024",
         *       "style": null,
         *       "status": "active",
         *       "startedAt": "2025-01-15T10:00:00.000Z",
         *       "createdAt": "2025-01-15T10:00:00.012Z",
         *       "updatedAt": "2025-01-15T10:05:00.040Z",
         *       "messages": [
         *         {
         *           "id": "msg-1",
         *           "prompt": "Make the sky more blue",
         *           "timestamp": "2025-01-15T10:05:00.000Z",
         *           "images": [
         *             {
         *               "id": "img-1",
         *               "url": "https://zata.ai/storage/image1.png",
         *               "storagePath": "users/user-123/image1.png",
         *               "originalUrl": null,
         *               "firebaseUrl": null,
         *               "order": 1
         *             }
         *           ]
         *         }
         *       ],
         *       "images": [
         *         {
         *           "id": "img-1",
         *           "url": "https://zata.ai/storage/image1.png",
         *           "storagePath": "users/user-123/image1.png",
         *           "originalUrl": null,
         *           "firebaseUrl": null,
         *           "order": 1,
         *           "prompt": "Make the sky more blue",
         *           "timestamp": "2025-01-15T10:05:00.000Z",
         *           "messageId": "msg-1"
         *         }
         *       ],
         *       "imageUrls": [
         *         "https://zata.ai/storage/image1.png"
         *       ],
         *       "imageOrderMap": {
         *         "https://zata.ai/storage/image1.png": 1
         *       },
         *       "totalImages": 1,
         *       "seq": 1
         *     }
         */
        Session: {
            /** @description The server-generated document id (`sessionDocId`), unique across users. */
            id: string;
            /** @description The client-chosen id, unique per user. */
            sessionId: string;
            /** @description The owner's uid. */
            uid: string;
            model: string;
            frameSize: string | null;
            style: string | null;
            status: components["schemas"]["Status"];
            startedAt: components["schemas"]["Timestamp"];
            completedAt?: components["schemas"]["Timestamp"];
            createdAt: components["schemas"]["Timestamp"];
            updatedAt: components["schemas"]["Timestamp"];
            /** @description In the order they were added. */
            messages: components["schemas"]["Message"][];
            /** @description Every image of the session, sorted by `order`. */
            images: components["schemas"]["FlatImage"][];
            /** @description Every image's `url`, in order. */
            imageUrls: string[];
            /** @description Each image's `url` → its `order`. */
            imageOrderMap: {
                [key: string]: number;
            };
            totalImages: number;
            /** @description Number of committed changes; 0 for a new session. */
            seq: number;
        };
        /**
         * @description What a list shows of a session: the `Session` without `messages`, `images`, `imageUrls`
         *     and `imageOrderMap`, plus `lastImages`. `GET /?view=summary` lists these; the user's
         *     list socket pushes them (`protocol/live.schema.json`, `Summary`). `completedAt` is
         *     present only when set.
         * @example {
         *       "id": "Xk2p9QvR7sT1uW3yZ5aB",
         *       "sessionId": "session-1736935200000",
         *       "uid": "user-123",
         *       "model": "flux-kontext-pro",
         *       "frameSize": "1024x1024",
         *       "style": null,
         *       "status": "active",
         *       "startedAt": "2025-01-15T10:00:00.000Z",
         *       "createdAt": "2025-01-15T10:00:00.012Z",
         *       "updatedAt": "2025-01-15T10:05:00.040Z",
         *       "totalImages": 1,
         *       "seq": 1,
         *       "lastImages": [
         *         {
         *           "url": "https://zata.ai/storage/image1.png",
         *           "order": 1,
         *           "messageId": "msg-1"
         *         }
         *       ]
         *     }
         */
        SessionSummary: {
            /** @description The server-generated document id (`sessionDocId`), unique across users. */
            id: string;
            /** @description The client-chosen id, unique per user. */
            sessionId: string;
            /** @description The owner's uid. */
            uid: string;
            model: string;
            frameSize: string | null;
            style: string | null;
            status: components["schemas"]["Status"];
            startedAt: components["schemas"]["Timestamp"];
            completedAt?: components["schemas"]["Timestamp"];
            createdAt: components["schemas"]["Timestamp"];
            updatedAt: components["schemas"]["Timestamp"];
            totalImages: number;
            /** @description Number of committed changes; 0 for a new session. */
            seq: number;
            /**
             * @description The session's last images, at most 6 (all of them when it has fewer), sorted by
             *     `order`: the newest is last.
             */
            lastImages: components["schemas"]["SummaryImage"][];
        };
        /** @description An item of `SessionSummary.lastImages`; an image's `url` and `order`, and its message's id. */
        SummaryImage: {
            url: string;
            order: number;
            /** @description The id of the image's message. */
            messageId: string;
        };
        /** @description A prompt and the images generated for it, sorted by `order`. */
        Message: {
            /** @description The message's id (the client's `messageId`, or generated). */
            id: string;
            prompt: string;
            timestamp: components["schemas"]["Timestamp"];
            images: components["schemas"]["Image"][];
        };
        /** @description One generated image; `order` is its session-wide position (1, 2, 3, …). */
        Image: {
            /** @description The client's image id, or generated. */
            id: string;
            url: string;
            storagePath: string | null;
            originalUrl: string | null;
            firebaseUrl: string | null;
            order: number;
        };
        /** @description An item of `Session.images`; an Image plus its message's prompt, timestamp and id. */
        FlatImage: {
            id: string;
            url: string;
            storagePath: string | null;
            originalUrl: string | null;
            firebaseUrl: string | null;
            order: number;
            /** @description The prompt of the image's message. */
            prompt: string;
            /** @description The timestamp of the image's message. */
            timestamp: components["schemas"]["Timestamp"];
            /** @description The id of the image's message. */
            messageId: string;
        };
        /**
         * @description Body of `POST /` and `POST /find-or-create`. Unknown fields are ignored. Optional strings
         *     that are `null` or `""` are stored as `null`.
         */
        NewSession: {
            /** @description Client-chosen, unique per user; 1 to 128 of `A-Za-z0-9._:-`. */
            sessionId: string;
            model: string;
            frameSize?: string | null;
            style?: string | null;
            /**
             * Format: date-time
             * @description Any RFC 3339 timestamp; defaults to now.
             */
            startedAt?: string | null;
        };
        /** @description Body of `POST /{id}/messages`. Unknown fields are ignored. */
        NewMessage: {
            /** @description May be empty; not null. */
            prompt: string;
            /** @description May be empty. */
            images: components["schemas"]["NewImage"][];
            /**
             * Format: date-time
             * @description Any RFC 3339 timestamp; defaults to now.
             */
            timestamp?: string | null;
            /**
             * @description Idempotency key (generated if absent, as the session's id, `-m` and the message's
             *     `seq`): a second append with the same `messageId` changes nothing and answers what
             *     the first did. Non-empty, no control characters.
             */
            messageId?: string | null;
        };
        /**
         * @description One image of a new message. An image whose `id` or `url` is already in the session is
         *     not added again. `storagePath`, `originalUrl` and `firebaseUrl` that are `null` or `""`
         *     are stored as `null`; when given, `originalUrl` and `firebaseUrl` must be absolute URLs.
         */
        NewImage: {
            /**
             * Format: uri
             * @description An absolute URL, without whitespace.
             */
            url: string;
            /**
             * @description Generated if absent, as the session's id, `-i` and the image's `order`. Non-empty, no
             *     control characters.
             */
            id?: string | null;
            storagePath?: string | null;
            /** @description An absolute URL like `url`, or `null` or `""` for none. */
            originalUrl?: string | "" | null;
            /** @description An absolute URL like `url`, or `null` or `""` for none. */
            firebaseUrl?: string | "" | null;
        };
        /**
         * @description Body of `PATCH /{id}`: only these fields; any other is 400 naming it. `status` and
         *     `model` cannot be null; `frameSize` and `style` are cleared by `null` or `""`. With
         *     `status: active`, `completedAt` can only be null; with `status: completed`, it cannot be.
         */
        SessionUpdate: {
            status?: components["schemas"]["Status"];
            /**
             * Format: date-time
             * @description Any RFC 3339 timestamp, or null to clear (not allowed with `completed`).
             */
            completedAt?: string | null;
            model?: string;
            frameSize?: string | null;
            style?: string | null;
        } & (unknown & unknown);
        /** @description Body of `PATCH /{id}/complete` (optional). Unknown fields are ignored. */
        Completion: {
            /**
             * Format: date-time
             * @description Any RFC 3339 timestamp; defaults to now.
             */
            completedAt?: string | null;
        };
        /** @description Body of `POST /{id}/signals`. Unknown fields are ignored. */
        NewSignal: {
            /**
             * @description Any JSON value (`null` included), delivered unchanged. At most 4,096 bytes in its
             *     compact JSON encoding by default (`--max-signal-bytes`); larger is 413.
             */
            data: unknown;
        };
        /**
         * @description The error envelope. `data.code` is the machine-readable cause; the details present
         *     depend on it: `field` with `invalid_argument`, `sessionDocId` with `conflict`,
         *     `maxImages` with `session_full`, `retryable` (true) with `unavailable` and
         *     `rate_limited`, `retryAfter` with a `rate_limited` of the per-user request rate.
         */
        Error: {
            /** @constant */
            status: "error";
            /** @description What is wrong, for a person. */
            message: string;
            data: {
                /** @enum {string} */
                code: "invalid_argument" | "unauthenticated" | "forbidden" | "not_found" | "method_not_allowed" | "conflict" | "session_full" | "payload_too_large" | "rate_limited" | "unavailable";
                /** @description The offending field or parameter (`sessionId`, `images[2].url`, `body`, `cursor`). */
                field?: string;
                /** @description The existing session's id. */
                sessionDocId?: string;
                /** @description The per-session image limit. */
                maxImages?: number;
                /** @description The same request may succeed if retried. */
                retryable?: boolean;
                /** @description With `rate_limited` from the per-user request rate, the seconds to wait before retrying (as the `Retry-After` header says). */
                retryAfter?: number;
            } & (unknown & unknown & unknown & unknown & unknown & unknown);
        };
        /** @description Answer of `POST /`. */
        CreatedEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "Session created";
            data: {
                sessionDocId: string;
            };
        };
        /** @description Answer of `POST /find-or-create`; `created` is true when this call made the session. */
        FindOrCreateEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "OK";
            data: {
                sessionDocId: string;
                created: boolean;
            };
        };
        /** @description Answer of `GET /{id}` and `GET /by-image-url`. */
        SessionEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "OK";
            data: {
                session: components["schemas"]["Session"];
            };
        };
        /** @description Answer of `GET /` (with `view=full`, the default); `nextCursor` is present only when more sessions remain. */
        SessionListEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "OK";
            data: {
                sessions: components["schemas"]["Session"][];
                /** @description Opaque; pass it as `cursor` to get the next page. */
                nextCursor?: string;
            };
        };
        /** @description Answer of `GET /?view=summary`; `nextCursor` is present only when more sessions remain. */
        SessionSummaryListEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "OK";
            data: {
                sessions: components["schemas"]["SessionSummary"][];
                /** @description Opaque; pass it as `cursor` (with `view=summary`) to get the next page. */
                nextCursor?: string;
            };
        };
        /** @description Answer of `POST /{id}/messages`, for a new message and for a retry alike. */
        AppendedEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "Message added";
            data: {
                messageId: string;
                /** @description The `order` of each of the message's images. */
                orders: number[];
                seq: number;
            };
        };
        /** @description Answer of `PATCH /{id}` and `PATCH /{id}/complete`; `seq` after the change. */
        SeqEnvelope: {
            /** @constant */
            status: "success";
            /** @enum {string} */
            message: "Session updated" | "Session completed";
            data: {
                seq: number;
            };
        };
        /** @description Answer of `POST /{id}/signals`; `seq` is the session's when the signal was sent (a signal never changes it). */
        SignalEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "Signal sent";
            data: {
                seq: number;
            };
        };
        /** @description Answer of `DELETE /{id}`. */
        DeletedEnvelope: {
            /** @constant */
            status: "success";
            /** @constant */
            message: "Session deleted";
            data: Record<string, never>;
        };
        /** @description Answer of `GET /healthz`. */
        Health: {
            /** @constant */
            status: "ok";
        };
    };
    responses: {
        /** @description The session. */
        Session: {
            headers: {
                /** @description Names this answer; changes whenever the session does. */
                ETag?: string;
                /** @description Always `private, no-cache`. */
                "Cache-Control"?: "private, no-cache";
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["SessionEnvelope"];
            };
        };
        /** @description The session is as the `If-None-Match` tag names it; no body. */
        NotModified: {
            headers: {
                /** @description The same tag. */
                ETag?: string;
                /** @description Always `private, no-cache`. */
                "Cache-Control"?: "private, no-cache";
                [name: string]: unknown;
            };
            content?: never;
        };
        /** @description Invalid input (`invalid_argument`); `data.field` names the offending field or parameter. */
        BadRequest: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "invalid_argument";
                    };
                };
            };
        };
        /** @description Missing, invalid or expired bearer token (`unauthenticated`). */
        Unauthenticated: {
            headers: {
                /** @description Always `Bearer`. */
                "WWW-Authenticate"?: "Bearer";
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "unauthenticated";
                    };
                };
            };
        };
        /** @description The session cookie came from a page of an origin that may not use it (`forbidden`). */
        Forbidden: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "forbidden";
                    };
                };
            };
        };
        /** @description No such session for the caller (`not_found`); also another user's session. */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "not_found";
                    };
                };
            };
        };
        /** @description The caller already has a session with this `sessionId` (`conflict`); `data.sessionDocId` is its id. */
        Conflict: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "conflict";
                    };
                };
            };
        };
        /** @description The change contradicts the session as it stands (`conflict`), such as a `completedAt` for an active session; `data.sessionDocId` is the session's id. Nothing changed. */
        ContradictsState: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "conflict";
                    };
                };
            };
        };
        /** @description The session holds its maximum of images (`session_full`); `data.maxImages` says how many. Nothing was added. */
        SessionFull: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "session_full";
                    };
                };
            };
        };
        /** @description The request body exceeds the body limit (`payload_too_large`). */
        PayloadTooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "payload_too_large";
                    };
                };
            };
        };
        /**
         * @description The request body exceeds the body limit, or the signal's `data` exceeds the signal limit
         *     (4,096 bytes of compact JSON by default, `--max-signal-bytes`) (`payload_too_large`).
         *     Nothing was sent.
         */
        SignalTooLarge: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "payload_too_large";
                    };
                };
            };
        };
        /**
         * @description The caller's user has made more requests than the per-user rate allows (a token bucket
         *     per user and instance: `--rest-rate` per second with bursts of `--rest-burst`, by default
         *     50 and 100). Nothing was done; retry after `Retry-After` seconds. Other users are not
         *     affected.
         */
        RateLimited: {
            headers: {
                /** @description Seconds until the user's bucket holds a request again. */
                "Retry-After"?: number;
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "rate_limited";
                    };
                };
            };
        };
        /**
         * @description The user has as many sockets open on this instance as one user may
         *     (`--ws-max-sockets-per-user`, by default 100); close one first. A socket that
         *     authenticates by its first frame is counted after that frame instead, and closed with
         *     4029.
         */
        TooManySockets: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "rate_limited";
                    };
                };
            };
        };
        /** @description The store or the session is temporarily unavailable (`unavailable`, `retryable` true); retry the request. */
        Unavailable: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    data?: {
                        /** @constant */
                        code?: "unavailable";
                    };
                };
            };
        };
    };
    parameters: {
        /**
         * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
         *     cannot name a session and is 404. `live` is never an id:
         *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
         */
        SessionDocId: string;
        /**
         * @description `ETag`s of answers the client holds (RFC 9110: a list, weak tags compared weakly, or
         *     `*`); when one names the session as it stands, the answer is 304.
         */
        IfNoneMatch: string;
    };
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The server is up. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    listSessions: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100. */
                limit?: number;
                /**
                 * @description The `nextCursor` of the previous page, unchanged (opaque); empty means the first
                 *     page. Any other value that this listing did not hand out, or that belongs to another
                 *     user, is 400 with `field: cursor`.
                 */
                cursor?: string;
                /** @description Only sessions with this status. */
                status?: components["schemas"]["Status"];
                /**
                 * @description `full`: each session whole (`Session`). `summary`: each session as a
                 *     `SessionSummary` (no messages, no image lists; its last images only).
                 */
                view?: "full" | "summary";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /**
             * @description One page of sessions: a `SessionListEnvelope` with `view=full` (the default), a
             *     `SessionSummaryListEnvelope` with `view=summary`.
             */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SessionListEnvelope"] | components["schemas"]["SessionSummaryListEnvelope"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    createSession: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description The new session. Accepted with any `Content-Type`; parsed as JSON. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "sessionId": "session-1736935200000",
                 *       "model": "flux-kontext-pro",
                 *       "frameSize": "1024x1024",
                 *       "style": null,
                 *       "startedAt": "2025-01-15T10:00:00.000Z"
                 *     }
                 */
                "application/json": components["schemas"]["NewSession"];
            };
        };
        responses: {
            /** @description Session created. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CreatedEnvelope"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            409: components["responses"]["Conflict"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    findOrCreateSession: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description The session to find or create. Accepted with any `Content-Type`; parsed as JSON. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "sessionId": "session-1736935200000",
                 *       "model": "flux-kontext-pro",
                 *       "frameSize": "1024x1024"
                 *     }
                 */
                "application/json": components["schemas"]["NewSession"];
            };
        };
        responses: {
            /** @description The session's document id. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["FindOrCreateEnvelope"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    getSessionByImageUrl: {
        parameters: {
            query: {
                /** @description The image URL, percent-encoded. */
                imageUrl: string;
            };
            header?: {
                /**
                 * @description `ETag`s of answers the client holds (RFC 9110: a list, weak tags compared weakly, or
                 *     `*`); when one names the session as it stands, the answer is 304.
                 */
                "If-None-Match"?: components["parameters"]["IfNoneMatch"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: components["responses"]["Session"];
            304: components["responses"]["NotModified"];
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    liveSessions: {
        parameters: {
            query?: {
                /**
                 * @description Only sessions with this status: in the `sessions` page, and as `session.changed`; a
                 *     session that stops having it is pushed as `session.removed`.
                 */
                status?: components["schemas"]["Status"];
                /** @description Size of the `sessions` page pushed on every attach, 1 to 100. */
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching to the WebSocket protocol. */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            403: components["responses"]["Forbidden"];
            429: components["responses"]["TooManySockets"];
        };
    };
    listEvents: {
        parameters: {
            query?: {
                status?: components["schemas"]["Status"];
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stream of events, until `event: close`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            429: components["responses"]["TooManySockets"];
            503: components["responses"]["Unavailable"];
        };
    };
    getSession: {
        parameters: {
            query?: never;
            header?: {
                /**
                 * @description `ETag`s of answers the client holds (RFC 9110: a list, weak tags compared weakly, or
                 *     `*`); when one names the session as it stands, the answer is 304.
                 */
                "If-None-Match"?: components["parameters"]["IfNoneMatch"];
            };
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: components["responses"]["Session"];
            304: components["responses"]["NotModified"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    deleteSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Session deleted. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeletedEnvelope"];
                };
            };
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    updateSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /** @description The changes. Accepted with any `Content-Type`; parsed as JSON. An empty body is `{}`. */
        requestBody?: {
            content: {
                /**
                 * @example {
                 *       "status": "completed",
                 *       "completedAt": "2025-01-15T10:30:00.000Z"
                 *     }
                 */
                "application/json": components["schemas"]["SessionUpdate"];
            };
        };
        responses: {
            /** @description Session updated; `seq` after the change. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SeqEnvelope"] & {
                        /** @constant */
                        message?: "Session updated";
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["ContradictsState"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    appendMessage: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /** @description The message. Accepted with any `Content-Type`; parsed as JSON. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "messageId": "msg-1736935500000",
                 *       "prompt": "Make the sky more blue",
                 *       "images": [
                 *         {
                 *           "id": "img-1",
                 *           "url": "https://zata.ai/storage/image1.png",
                 *           "storagePath": "users/uid/image1.png",
                 *           "originalUrl": "https://zata.ai/storage/image1.png",
                 *           "firebaseUrl": "https://firebase.storage/image1.png"
                 *         }
                 *       ],
                 *       "timestamp": "2025-01-15T10:05:00.000Z"
                 *     }
                 */
                "application/json": components["schemas"]["NewMessage"];
            };
        };
        responses: {
            /** @description Message added (or recognised as a retry). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AppendedEnvelope"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["SessionFull"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    completeSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /** @description The completion time. Accepted with any `Content-Type`; parsed as JSON. An empty body is `{}`. */
        requestBody?: {
            content: {
                /**
                 * @example {
                 *       "completedAt": "2025-01-15T10:30:00.000Z"
                 *     }
                 */
                "application/json": components["schemas"]["Completion"];
            };
        };
        responses: {
            /** @description Session completed; `seq` after the change. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SeqEnvelope"] & {
                        /** @constant */
                        message?: "Session completed";
                    };
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            413: components["responses"]["PayloadTooLarge"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    sendSignal: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        /** @description The signal. Accepted with any `Content-Type`; parsed as JSON. */
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "data": {
                 *         "kind": "generation",
                 *         "generation": "gen-7f3k",
                 *         "state": "progress",
                 *         "progress": 0.5
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["NewSignal"];
            };
        };
        responses: {
            /** @description Signal sent; `seq` is the session's, unchanged. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SignalEnvelope"];
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            413: components["responses"]["SignalTooLarge"];
            429: components["responses"]["RateLimited"];
            503: components["responses"]["Unavailable"];
        };
    };
    sessionEvents: {
        parameters: {
            query?: {
                /** @description Resume after this `seq` (`Last-Event-ID` wins when both are sent). */
                sinceSeq?: number;
            };
            header?: {
                "Last-Event-ID"?: string;
            };
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stream of events, until `event: close`. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            400: components["responses"]["BadRequest"];
            401: components["responses"]["Unauthenticated"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManySockets"];
            503: components["responses"]["Unavailable"];
        };
    };
    liveSession: {
        parameters: {
            query?: {
                /** @description Resume after this `seq` (see `protocol/README.md`). */
                sinceSeq?: number;
            };
            header?: never;
            path: {
                /**
                 * @description The session's `sessionDocId` (server-generated, letters and digits). Anything else
                 *     cannot name a session and is 404. `live` is never an id:
                 *     `/api/live-chat-sessions/live` is the user's list socket (`liveSessions`).
                 */
                id: components["parameters"]["SessionDocId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching to the WebSocket protocol. */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["BadRequest"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["TooManySockets"];
        };
    };
}
