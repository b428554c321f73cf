// A tiny browser-like HTTP client for parley's server-rendered forms: keeps cookies, never
// follows redirects, and pulls the CSRF token out of forms. Used by the tests and by the
// benchmark to register, log in and log out as a browser would.
export interface Reply {
  status: number;
  headers: Headers;
  body: string;
  location: string | null;
}

export class Browser {
  readonly cookies = new Map<string, string>();

  constructor(
    public baseUrl: string,
    private readonly extraHeaders: Record<string, string> = {},
  ) {}

  /** The Cookie header this browser would send. */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(
    method: string,
    path: string,
    opts: { form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...this.extraHeaders, ...opts.headers };
    const cookie = this.cookieHeader();
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (opts.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(opts.form).toString();
    }
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      redirect: "manual",
      ...(body !== undefined ? { body } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair?.indexOf("=") ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return {
      status: res.status,
      headers: res.headers,
      body: await res.text(),
      location: res.headers.get("location"),
    };
  }

  get(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request("GET", path, headers ? { headers } : {});
  }

  post(path: string, form: Record<string, string>, headers?: Record<string, string>) {
    return this.request("POST", path, { form, ...(headers ? { headers } : {}) });
  }

  /** GETs a page with a form and returns its CSRF token. */
  async csrf(path: string): Promise<string> {
    const page = await this.get(path);
    const m = /name="_csrf" value="([^"]+)"/.exec(page.body);
    if (!m?.[1]) throw new Error(`no CSRF token on ${path} (status ${page.status})`);
    return m[1];
  }

  async register(username: string, password: string): Promise<Reply> {
    const _csrf = await this.csrf("/register");
    return this.post("/register", { username, password, _csrf });
  }

  async login(username: string, password: string, extra: Record<string, string> = {}) {
    const _csrf = await this.csrf("/login");
    return this.post("/login", { username, password, _csrf, ...extra });
  }

  async logout(): Promise<Reply> {
    const _csrf = await this.csrf("/account");
    return this.post("/logout", { _csrf });
  }
}
