/**
 * `make registry`: the local image registry (test/support/registry-process.ts) in the foreground, on the port the
 * local cluster trusts, until Ctrl-C. Push to it with `make images-push REGISTRY=<the address it prints>`.
 */
import { startRegistry } from "../support/registry-process.ts";

const registry = await startRegistry();
process.stdout.write(`registry on http://${registry.host} (storage ${registry.storage}); Ctrl-C stops it\n`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void registry.stop().then(() => {
      process.stdout.write("registry stopped\n");
      process.exit(0);
    });
  });
}
