import { expect } from "chai";
import { ConfigError, loadConfig } from "../src/config.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("has the documented defaults and returns a frozen object", () => {
    const c = loadConfig({});
    expect(c).to.deep.include({
      port: 3000,
      host: "127.0.0.1",
      redisUrl: undefined,
      sessionSecrets: undefined,
      allowedOrigins: undefined,
      sessionIdleSeconds: 1800,
      sessionAbsoluteSeconds: 43_200,
      trustProxy: false,
      production: false,
      logLevel: "info",
    });
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it("parses every variable", () => {
    const c = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      REDIS_URL: "redis://127.0.0.1:6380",
      SESSION_SECRET: `${"n".repeat(32)}, ${"o".repeat(32)}`,
      ALLOWED_ORIGINS: "https://chat.example.com,http://localhost:8080",
      SESSION_IDLE_SECONDS: "60",
      SESSION_ABSOLUTE_SECONDS: "120",
      TRUST_PROXY: "2",
      NODE_ENV: "production",
      LOG_LEVEL: "warn",
    });
    expect(c.sessionSecrets).to.deep.equal(["n".repeat(32), "o".repeat(32)]);
    expect(c.allowedOrigins).to.deep.equal(["https://chat.example.com", "http://localhost:8080"]);
    expect(c).to.deep.include({ port: 8080, trustProxy: 2, production: true, logLevel: "warn" });
  });

  for (const [name, value] of [
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["REDIS_URL", "http://localhost"],
    ["ALLOWED_ORIGINS", "https://a.example/path"],
    ["ALLOWED_ORIGINS", "null"],
    ["TRUST_PROXY", "yes"],
    ["LOG_LEVEL", "loud"],
    ["SESSION_IDLE_SECONDS", "0"],
    ["SESSION_ABSOLUTE_SECONDS", "-5"],
    ["SESSION_SECRET", "too-short"],
    ["REDIS_ACK_REPLICAS", "-1"],
  ] as const) {
    it(`names ${name} when it is ${JSON.stringify(value)}`, () => {
      const p = problems({ [name]: value });
      expect(p).to.have.length(1);
      expect(p[0]).to.match(new RegExp(`^${name} `));
    });
  }

  it("reports every problem at once, one line each", () => {
    const p = problems({ PORT: "x", LOG_LEVEL: "loud", TRUST_PROXY: "maybe" });
    expect(p).to.have.length(3);
    expect(p.join("\n")).to.include("PORT").and.include("LOG_LEVEL").and.include("TRUST_PROXY");
  });

  it("requires REDIS_URL and SESSION_SECRET in production", () => {
    const p = problems({ NODE_ENV: "production" });
    expect(p.some((l) => l.startsWith("REDIS_URL"))).to.equal(true);
    expect(p.some((l) => l.startsWith("SESSION_SECRET"))).to.equal(true);
  });

  it("refuses a plain-HTTP PUBLIC_URL in production (Secure cookies would never come back), and takes an https one", () => {
    const prod = {
      NODE_ENV: "production",
      REDIS_URL: "redis://127.0.0.1:6379",
      SESSION_SECRET: "x".repeat(32),
    };
    const p = problems({ ...prod, PUBLIC_URL: "http://chat.example.com" });
    expect(p).to.have.length(1);
    expect(p[0]).to.match(
      /^PUBLIC_URL is plain HTTP \(got "http:\/\/chat.example.com"\), but NODE_ENV=production makes cookies Secure/,
    );
    expect(loadConfig({ ...prod, PUBLIC_URL: "https://chat.example.com/" }).publicUrl).to.equal(
      "https://chat.example.com",
    );
    expect(loadConfig({ PUBLIC_URL: "http://localhost:3000" }).publicUrl).to.equal(
      "http://localhost:3000",
    );
    expect(problems({ PUBLIC_URL: "chat.example.com/path" })[0]).to.match(
      /^PUBLIC_URL must be origins/,
    );
  });

  it("scales event budgets only outside production (PARLEY_BENCH_BUDGET_SCALE, benchmarks)", () => {
    expect(loadConfig({}).budgetScale).to.equal(1);
    expect(loadConfig({ PARLEY_BENCH_BUDGET_SCALE: "1000" }).budgetScale).to.equal(1000);
    expect(problems({ PARLEY_BENCH_BUDGET_SCALE: "0" })[0]).to.match(
      /^PARLEY_BENCH_BUDGET_SCALE .*\(got "0"\)$/,
    );
    const p = problems({
      NODE_ENV: "production",
      REDIS_URL: "redis://127.0.0.1:6379",
      SESSION_SECRET: "x".repeat(32),
      PARLEY_BENCH_BUDGET_SCALE: "10",
    });
    expect(p).to.deep.equal([
      "PARLEY_BENCH_BUDGET_SCALE is for benchmarks and cannot be set when NODE_ENV=production",
    ]);
  });

  it("follows sentinels: REDIS_SENTINELS with REDIS_SENTINEL_NAME, one replica acks by default", () => {
    const c = loadConfig({
      REDIS_SENTINELS: "10.0.0.1:26379, [::1]:26380,sentinel-3:26381",
      REDIS_SENTINEL_NAME: "parley",
      NODE_ENV: "production",
      SESSION_SECRET: "x".repeat(32),
    });
    expect(c.redisSentinels).to.deep.equal([
      { host: "10.0.0.1", port: 26379 },
      { host: "::1", port: 26380 },
      { host: "sentinel-3", port: 26381 },
    ]);
    expect(c.redisSentinelName).to.equal("parley");
    expect(c.redisAckReplicas).to.equal(1);
    expect(c.redisUrl).to.equal(undefined);
    expect(loadConfig({}).redisAckReplicas).to.equal(0);
    expect(loadConfig({ REDIS_ACK_REPLICAS: "2" }).redisAckReplicas).to.equal(2);
  });

  it("refuses a sentinel set-up that cannot work, one line per problem", () => {
    expect(problems({ REDIS_SENTINELS: "10.0.0.1:26379" })).to.deep.equal([
      "REDIS_SENTINEL_NAME is required with REDIS_SENTINELS",
    ]);
    expect(problems({ REDIS_SENTINEL_NAME: "parley" })).to.deep.equal([
      "REDIS_SENTINEL_NAME needs REDIS_SENTINELS",
    ]);
    const bad = problems({ REDIS_SENTINELS: "10.0.0.1", REDIS_SENTINEL_NAME: "parley" });
    expect(bad).to.have.length(1);
    expect(bad[0]).to.match(/^REDIS_SENTINELS must list host:port entries: "10.0.0.1"/);
    expect(
      problems({
        REDIS_SENTINELS: "a:1",
        REDIS_SENTINEL_NAME: "parley",
        REDIS_URL: "rediss://:pw@x:6380",
      })[0],
    ).to.match(/^REDIS_URL must use redis:\/\/ with REDIS_SENTINELS/);
    expect(problems({ REDIS_SENTINELS: "a:1", REDIS_SENTINEL_NAME: "bad name" })[0]).to.match(
      /^REDIS_SENTINEL_NAME /,
    );
  });

  it("runs on a cluster with REDIS_CLUSTER_NODES, alone, with no replica acks", () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:6379,10.0.0.2:6379" });
    expect(c.redisClusterNodes).to.deep.equal([
      { host: "10.0.0.1", port: 6379 },
      { host: "10.0.0.2", port: 6379 },
    ]);
    expect(c.redisAckReplicas).to.equal(0);
    const p = problems({
      REDIS_CLUSTER_NODES: "a:1",
      REDIS_SENTINELS: "b:2",
      REDIS_SENTINEL_NAME: "parley",
      REDIS_ACK_REPLICAS: "1",
    });
    expect(p).to.include("REDIS_CLUSTER_NODES and REDIS_SENTINELS cannot be used together");
    expect(p.some((l) => l.startsWith("REDIS_ACK_REPLICAS must be 0 with REDIS_CLUSTER_NODES"))).to
      .be.true;
    expect(problems({ REDIS_CLUSTER_NODES: "nope" })[0]).to.match(/^REDIS_CLUSTER_NODES must list/);
  });

  it("never repeats a Redis URL, which may hold a password, in its error text", () => {
    const p = problems({ REDIS_URL: "http://:hunter2@example.com" });
    expect(p[0]).to.match(/^REDIS_URL /);
    expect(p.join("\n")).to.not.include("hunter2");
  });

  it("refuses an absolute lifetime shorter than the idle timeout", () => {
    expect(problems({ SESSION_IDLE_SECONDS: "100", SESSION_ABSOLUTE_SECONDS: "50" })[0]).to.match(
      /^SESSION_ABSOLUTE_SECONDS/,
    );
  });

  it("never repeats a secret in its error text", () => {
    const secret = "this-secret-is-too-short";
    expect(problems({ SESSION_SECRET: secret }).join("\n")).to.not.include(secret);
  });
});
