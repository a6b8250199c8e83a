/** A thin REST client: the server's error message, never a stack, reaches the user. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class UsageError extends Error {}

/** A JSON document from the server; commands read the fields they print (see documents.ts). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the server's JSON, narrowed where it is used
export type Json = any;

export class Client {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    const isForm = body instanceof FormData;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: this.headers(
          body === undefined || isForm ? {} : { 'content-type': 'application/json' },
        ),
        body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(
        0,
        'UNREACHABLE',
        `cannot reach wfs at ${this.baseUrl}: ${(e as Error).cause ?? (e as Error).message}`,
      );
    }
    return this.parse<T>(res);
  }

  async upload(runId: number, name: string, bytes: Buffer): Promise<Json> {
    const res = await fetch(
      `${this.baseUrl}/api/v1/runs/${runId}/files/${encodeURIComponent(name)}`,
      {
        method: 'PUT',
        headers: this.headers({ 'content-type': 'application/octet-stream' }),
        body: bytes,
      },
    );
    return this.parse(res);
  }

  async stream(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.baseUrl + path, { headers: this.headers(headers) });
    if (!res.ok) await this.parse(res);
    return res;
  }

  private async parse<T>(res: Response): Promise<T> {
    const text = await res.text();
    let json: Json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const e = json?.error;
      throw new ApiError(
        res.status,
        e?.code ?? `HTTP_${res.status}`,
        e?.message ?? (text.slice(0, 200) || res.statusText),
        e?.details ?? {},
      );
    }
    return json as T;
  }
}
