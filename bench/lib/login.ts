/**
 * A bearer token for a bench's gateway: the benches start a gateway in the same process and sign
 * in as soon as signing has joined, so a refused login (signing not ready yet) is retried.
 */
export async function signIn(url: string, email: string, password: string, attempts = 100): Promise<string> {
	for (let i = 0; i < attempts; i++) {
		const res = await fetch(`${url}/api/users/auth`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email, password })
		});
		if (res.ok) return ((await res.json()) as { access_token: string }).access_token;
		await new Promise(r => setTimeout(r, 100));
	}
	throw new Error(`could not sign in to ${url} as ${email}`);
}
