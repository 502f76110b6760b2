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
import { renderCommand, runtimePython } from "./render-command.ts";

const output: CliOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

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
    .action((file: string, options: { clipSeconds?: number }) => {
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
        setStatus(await renderCommand(planned.render, runtimePython(options.python), output));
      },
    );
  return root;
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
