// An S3-compatible server for the tests (s3rver: the S3 REST API over a local directory), on
// a free port, with the bucket parley is configured with. Started by the tests that need it
// and stopped by them; never a shared or remote service.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import S3rver from "s3rver";

export interface TestS3 {
  /** FILES_S3_* settings for a parley that stores its files there. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export const TEST_BUCKET = "parley-files";

export async function startS3(): Promise<TestS3> {
  const dir = mkdtempSync(path.join(tmpdir(), "parley-test-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: TEST_BUCKET, configs: [] }],
  });
  const { port } = (await server.run()) as { port: number };
  return {
    env: {
      FILES_S3_BUCKET: TEST_BUCKET,
      FILES_S3_ENDPOINT: `http://127.0.0.1:${port}`,
      FILES_S3_ACCESS_KEY_ID: "S3RVER",
      FILES_S3_SECRET_ACCESS_KEY: "S3RVER",
      FILES_S3_PREFIX: "test/",
    },
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
