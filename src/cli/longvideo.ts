#!/usr/bin/env node
/**
 * The `longvideo` command (package.json's bin): plan a film, render it on this machine, or follow, fetch and read
 * the logs of one rendered by the operator. Runs on Node 24 without a build. Arguments are parsed by commander;
 * each command's decisions are pure functions in this folder, and the command modules only do the I/O.
 *
 * Exit status: 0 done; 1 when what was asked about is invalid, failed, missing or not allowed (the message says
 * which); 2 on a usage or read error.
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { CliError, ExitStatus } from "./cli-output.ts";
import type { CliOutput } from "./cli-output.ts";
import { filmManifests } from "./film-manifests.ts";
import { localRenderPlan } from "./local-render.ts";
import { planCommand } from "./plan-command.ts";
import type { ClusterSession } from "./cluster-session.ts";

const output: CliOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * The cluster session, loaded when a command needs it: the Kubernetes client takes a second to load, which
 * `plan` and `render` should not pay.
 */
async function clusterSession(namespace: string | undefined): Promise<ClusterSession> {
  const { ClusterSession: Session } = await import("./cluster-session.ts");
  return new Session(namespace);
}

function segmentIndex(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError("takes a segment index (0, 1, ...)");
  return value;
}

const namespaceOption = () =>
  new Option("-n, --namespace <namespace>", "the film's namespace (default: the kubeconfig context's)");

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError("takes a positive number");
  return value;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(
      `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
      ExitStatus.usage,
    );
  }
}

function program(setStatus: (status: number) => void): Command {
  const root = new Command("longvideo")
    .description("Plan, render, watch and fetch LongVideo films.")
    .showHelpAfterError()
    .exitOverride();

  root
    .command("plan")
    .description("validate the LongVideos in FILE as the API server would and print each one's segment plan")
    .argument("<file>", "YAML with one or more LongVideo documents")
    .addOption(
      new Option("--clip-seconds <seconds>", "render time per clip for the GPU-seconds estimate").argParser(
        positiveNumber,
      ),
    )
    .addOption(
      new Option(
        "--audio-seconds <seconds>",
        "duration of a talk film's spec.audio (ffprobe tells it), which a storyline without lengths follows",
      ).argParser(positiveNumber),
    )
    .action((file: string, options: { clipSeconds?: number; audioSeconds?: number }) => {
      setStatus(planCommand(readText(file), file, options, output));
    });

  root
    .command("render")
    .description("render a LongVideo on this machine, without a cluster, with the runtime worker")
    .argument("<file>", "YAML with a LongVideo (the first one is rendered, or the one --name names)")
    .option("-o, --output <dir>", "where the film, its contact sheet and workspace go", "out")
    .option("--name <name>", "which LongVideo of FILE to render")
    .option("--reference <image>", "the first frame (PNG, JPEG or WebP); needed unless the film's is a URL")
    .option("--models <dir>", "SVI and Wan weights: renders with the svi backend (default: animatic, on the CPU)")
    .option("--python <path>", "the Python with the runtime's packages (default: the project's virtualenv)")
    .action(
      async (
        file: string,
        options: { output: string; name?: string; reference?: string; models?: string; python?: string },
      ) => {
        const found = filmManifests(readText(file), file);
        if (!found.ok) throw new CliError(found.error, found.invalidYaml ? ExitStatus.usage : ExitStatus.failed);
        const chosen = options.name === undefined ? found.films[0] : found.films.find((f) => f.name === options.name);
        if (!chosen) throw new CliError(`no LongVideo named ${options.name ?? ""} in ${file}`);
        const planned = localRenderPlan(chosen.name, chosen.manifest, {
          outDir: options.output,
          ...(options.reference === undefined ? {} : { referenceImage: options.reference }),
          ...(options.models === undefined ? {} : { modelsDir: options.models }),
        });
        if (!planned.ok) throw new CliError(planned.error);
        const { renderCommand, runtimePython } = await import("./render-command.ts");
        setStatus(await renderCommand(planned.render, runtimePython(options.python), output));
      },
    );
  addClusterCommands(root, setStatus);
  return root;
}

/** The commands that talk to a cluster, with the user's kubeconfig. */
function addClusterCommands(root: Command, setStatus: (status: number) => void): void {
  root
    .command("watch")
    .description("live progress of a film and its segments (or of every film), with the time left; ends when done")
    .argument("[name]", "the LongVideo; without it, every film of the namespace")
    .addOption(namespaceOption())
    .option("-A, --all-namespaces", "every film of every namespace", false)
    .action(async (name: string | undefined, options: { namespace?: string; allNamespaces: boolean }) => {
      const session = await clusterSession(options.namespace);
      const { watchCommand } = await import("./watch-command.ts");
      setStatus(
        await watchCommand(
          session,
          {
            ...(name === undefined ? {} : { name }),
            allNamespaces: options.allNamespaces,
            tty: process.stderr.isTTY,
            intervalMs: 1000,
          },
          output,
        ),
      );
    });

  root
    .command("fetch")
    .description("copy a finished film, its clips and contact sheet out of its workspace, through a short-lived pod")
    .argument("<name>", "the LongVideo")
    .addOption(namespaceOption())
    .option("-o, --output <dir>", "where the files go", "out")
    .option(
      "--image <image>",
      "the image of the pod that reads the workspace (it needs sh, sleep and cat)",
      "busybox:1.37",
    )
    .option("--node <node>", "the node to read the workspace on (default: where the film's last segment ran)")
    .action(async (name: string, options: { namespace?: string; output: string; image: string; node?: string }) => {
      const session = await clusterSession(options.namespace);
      const { fetchCommand } = await import("./fetch-command.ts");
      setStatus(
        await fetchCommand(
          session,
          name,
          {
            outDir: options.output,
            image: options.image,
            ...(options.node === undefined ? {} : { node: options.node }),
            timeoutMs: 120_000,
          },
          output,
        ),
      );
    });

  root
    .command("logs")
    .description("the log of one segment of a film (its latest attempt)")
    .argument("<name>", "the LongVideo")
    .addOption(namespaceOption())
    .requiredOption("--segment <index>", "the segment, from 0", segmentIndex)
    .action(async (name: string, options: { namespace?: string; segment: number }) => {
      const { logsCommand } = await import("./logs-command.ts");
      setStatus(await logsCommand(await clusterSession(options.namespace), name, options.segment, output));
    });
}

async function main(argv: readonly string[]): Promise<number> {
  let status: number = ExitStatus.ok;
  try {
    await program((s) => (status = s)).parseAsync([...argv], { from: "user" });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0; anything else commander refused is a usage error.
      return error.exitCode === 0 ? ExitStatus.ok : ExitStatus.usage;
    }
    if (error instanceof CliError) {
      output.err(`longvideo: ${error.message}\n`);
      return error.status;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
