// action.d definitions → ActionDefinition: commands with every configuration tag resolved; the tags
// only a ban knows (`<ip>`, `<failures>`…) and those with a per-family variant stay for later.

import type { ActionReader } from './jail-reader.js';
import type { ActionCommands, ActionDefinition } from './model.js';
import { pyStr } from './pyvalue.js';

const COMMANDS: ReadonlyArray<keyof ActionCommands> = [
  'actionstart',
  'actionstop',
  'actioncheck',
  'actionban',
  'actionunban',
  'actionflush',
  'actionreban',
  'actionprolong',
];

export function actionDefinition(reader: ActionReader): ActionDefinition {
  const combined = reader.combined();
  const properties: Record<string, string> = {};
  for (const [k, v] of combined) if (v !== null && !k.startsWith('known/')) properties[k] = pyStr(v);
  const commands = Object.fromEntries(
    COMMANDS.map((c) => {
      const v = combined.get(c);
      return [c, v === undefined || v === null ? '' : pyStr(v)];
    }),
  ) as unknown as ActionCommands;
  const files = reader.files;
  return {
    name: reader.name,
    file: files.find((f) => f.endsWith(`/${reader.name}.conf`)) ?? files[0] ?? null,
    args: { ...reader.args },
    commands,
    properties,
  };
}
