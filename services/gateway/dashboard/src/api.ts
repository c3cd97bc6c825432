/**
 * The dashboard's HTTP client: a Bearer token from the sign-in, JSON in and out, errors as
 * ApiError with the HTTP status and the server's message. Views get one instance through their
 * context (views/view.ts); a 401 ends the session for the whole app.
 */

export class ApiError extends Error {
	constructor(
		message: string,
		readonly status: number,
		readonly data?: unknown
	) {
		super(message);
	}
}

/** A list answer: `{ items, nextCursor, total? }` (older routes answer a bare array). */
export interface Page<T> {
	items: T[];
	nextCursor: string | null;
	total?: number;
}

const TOKEN_KEY = "fleetmesh.token";

export class Api {
	token: string | null = localStorage.getItem(TOKEN_KEY);
	/** Called once when the server says the token is no longer valid. */
	onUnauthorized: () => void = () => undefined;

	setToken(token: string | null): void {
		this.token = token;
		if (token) localStorage.setItem(TOKEN_KEY, token);
		else localStorage.removeItem(TOKEN_KEY);
	}

	async request<T>(method: string, path: string, body?: unknown): Promise<T> {
		const res = await fetch(path, {
			method,
			headers: {
				...(body !== undefined ? { "content-type": "application/json" } : {}),
				...(this.token ? { authorization: `Bearer ${this.token}` } : {})
			},
			body: body === undefined ? undefined : JSON.stringify(body)
		});
		const data = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
		if (res.status === 401 && this.token) {
			this.onUnauthorized();
			throw new ApiError("Your session has ended. Please sign in again.", 401);
		}
		if (!res.ok) {
			const err = data as { message?: string; data?: unknown };
			throw new ApiError(err?.message ?? `HTTP ${res.status}`, res.status, err?.data);
		}
		return data as T;
	}

	get<T>(path: string, query?: Record<string, string | number | boolean | null | undefined>): Promise<T> {
		return this.request<T>("GET", withQuery(path, query));
	}
	post<T>(path: string, body: unknown = {}): Promise<T> {
		return this.request<T>("POST", path, body);
	}
	put<T>(path: string, body: unknown = {}): Promise<T> {
		return this.request<T>("PUT", path, body);
	}
	patch<T>(path: string, body: unknown = {}): Promise<T> {
		return this.request<T>("PATCH", path, body);
	}
	del<T>(path: string): Promise<T> {
		return this.request<T>("DELETE", path);
	}

	/** One page of a list route, whichever shape it answers in. */
	async page<T>(
		path: string,
		query?: Record<string, string | number | boolean | null | undefined>
	): Promise<Page<T>> {
		return toPage<T>(await this.get<unknown>(path, query));
	}

	/**
	 * Every item of a list route, following `nextCursor` (at most `maxPages` pages: a view never
	 * hangs on a huge table; `truncated` says when it stopped early).
	 */
	async all<T>(
		path: string,
		query: Record<string, string | number | boolean | null | undefined> = {},
		maxPages = 50
	): Promise<{ items: T[]; truncated: boolean }> {
		const items: T[] = [];
		let cursor: string | null = null;
		for (let i = 0; i < maxPages; i++) {
			const p: Page<T> = await this.page<T>(path, { ...query, cursor: cursor ?? undefined });
			items.push(...p.items);
			cursor = p.nextCursor;
			if (!cursor) return { items, truncated: false };
		}
		return { items, truncated: true };
	}
}

export function toPage<T>(body: unknown): Page<T> {
	if (Array.isArray(body)) return { items: body as T[], nextCursor: null, total: body.length };
	const b = body as Partial<Page<T>> & { users?: T[]; rows?: T[] };
	const items = b.items ?? b.users ?? b.rows ?? [];
	return { items, nextCursor: b.nextCursor ?? null, total: b.total };
}

export function withQuery(path: string, query?: Record<string, string | number | boolean | null | undefined>): string {
	if (!query) return path;
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(query)) if (v != null && v !== "") q.set(k, String(v));
	const s = q.toString();
	return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

/** The token's claims, for the e-mail and admin flag shown in the bar (the server checks them anyway). */
export function claims(token: string): Record<string, unknown> {
	try {
		const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
		return JSON.parse(decodeURIComponent(escape(atob(part))));
	} catch {
		return {};
	}
}
