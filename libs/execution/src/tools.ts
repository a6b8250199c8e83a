import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { PACKAGE_ROOT, WfsConfig } from '@wfs/config';
import { WorkflowDefinition } from '@wfs/domain';

export const SIMULATORS_DIR = path.join(PACKAGE_ROOT, 'tools', 'simulators');

/**
 * Tool name -> executable. Site tools come from WFS_TOOL_<NAME> or the tools
 * file (YAML `name: /abs/path`); anything not configured falls back to the
 * bundled simulator of that name, so a checkout runs anywhere.
 */
export class ToolMap {
  private readonly tools = new Map<string, string>();

  constructor(config: Pick<WfsConfig, 'tools' | 'toolsFile'>) {
    if (fs.existsSync(SIMULATORS_DIR)) {
      for (const f of fs.readdirSync(SIMULATORS_DIR)) {
        const file = path.join(SIMULATORS_DIR, f);
        if (!f.includes('.') && fs.statSync(file).isFile()) this.tools.set(f, file);
      }
    }
    if (config.toolsFile) {
      const doc = parse(fs.readFileSync(config.toolsFile, 'utf8')) as unknown;
      if (doc === null || typeof doc !== 'object')
        throw new Error(`Tools file ${config.toolsFile}: must map tool names to absolute paths`);
      for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
        if (typeof value !== 'string' || !path.isAbsolute(value)) {
          throw new Error(`Tools file ${config.toolsFile}: ${name}: must be an absolute path`);
        }
        this.tools.set(name, value);
      }
    }
    for (const [name, value] of Object.entries(config.tools)) this.tools.set(name, value);
  }

  resolve(name: string): string {
    const found = this.tools.get(name);
    if (!found)
      throw new Error(
        `no executable configured for tool "${name}" (set WFS_TOOL_${name.toUpperCase()})`,
      );
    return found;
  }

  /** Fails fast at worker start if a workflow names a tool nobody configured. */
  check(definitions: readonly WorkflowDefinition[], builtins: ReadonlySet<string>): void {
    for (const def of definitions) {
      for (const job of def.jobs) {
        if (job.executable.startsWith('builtin:')) {
          if (!builtins.has(job.executable))
            throw new Error(
              `Workflow ${def.name}: job ${job.name}: unknown builtin ${job.executable}`,
            );
        } else {
          this.resolve(job.executable);
        }
      }
    }
  }
}
