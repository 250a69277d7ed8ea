// Reads one jail section the way Fail2Ban does, keeping Fail2Ban's intermediate values (option order,
// untyped strings, `known/` copies) so that both the typed model and the `fail2ban-client -d` stream
// can be produced from it.
import {
  ACTION_OPTIONS,
  DefinitionReader,
  ESCAPED_TAGS,
  FILTER_OPTIONS,
} from './definition.js';
import { extractOptions, splitWithOptions } from './options.js';
import type { PyValue } from './pyvalue.js';
import { pyRepr, pyStr } from './pyvalue.js';
import { type OptionProblem, type OptionTemplate, readOptions } from './read-options.js';
import type { IniStore } from './store.js';
import type { ConfigTree } from './tree.js';

/** The Fail2Ban version we are compatible with (`%(fail2ban_version)s`). */
export const FAIL2BAN_VERSION = '1.0.2';

const JAIL_FIRST: OptionTemplate = [
  ['enabled', 'bool', false],
  ['backend', 'string', 'auto'],
  ['filter', 'string', ''],
];

export const JAIL_OPTIONS: OptionTemplate = [
  ['enabled', 'bool', false],
  ['backend', 'string', 'auto'],
  ['maxretry', 'int', undefined],
  ['maxmatches', 'int', undefined],
  ['findtime', 'string', undefined],
  ['bantime', 'string', undefined],
  ['bantime.increment', 'bool', undefined],
  ['bantime.factor', 'string', undefined],
  ['bantime.formula', 'string', undefined],
  ['bantime.multipliers', 'string', undefined],
  ['bantime.maxtime', 'string', undefined],
  ['bantime.rndtime', 'string', undefined],
  ['bantime.overalljails', 'bool', undefined],
  ['ignorecommand', 'string', undefined],
  ['ignoreself', 'bool', undefined],
  ['ignoreip', 'string', undefined],
  ['ignorecache', 'string', undefined],
  ['filter', 'string', ''],
  ['logtimezone', 'string', undefined],
  ['logencoding', 'string', undefined],
  ['logpath', 'string', undefined],
  ['action', 'string', ''],
  ...FILTER_OPTIONS,
];

export class FilterReader extends DefinitionReader {
  /** Every resolved option of the file (first, `all` pass), as merged into the jail's `known/` options. */
  allCombined: Map<string, PyValue> = new Map();

  constructor(tree: ConfigTree, name: string, jailName: string, args: Record<string, string>, problems: OptionProblem[]) {
    super(tree, 'filter.d', name, jailName, args, FILTER_OPTIONS, problems);
  }

  /** `logtype` follows the backend (journal for systemd) unless the jail or the filter sets it. */
  applyAutoOptions(backend: string): void {
    if (!this.initOpts.get('logtype') && !this.hasOwnDefinitionOption('logtype')) {
      this.initOpts.set('logtype', backend.startsWith('systemd') ? 'journal' : 'file');
    }
  }
}

export class ActionReader extends DefinitionReader {
  /** The action's unique name within the jail (`actname`). */
  readonly actname: string;

  constructor(tree: ConfigTree, file: string, jailName: string, args: Record<string, string>, problems: OptionProblem[]) {
    const withNames = { ...args };
    const name = withNames.name ?? jailName;
    withNames.name = name;
    let actname = withNames.actname;
    if (actname === undefined) {
      actname = file;
      if (name !== jailName) actname += name.startsWith(jailName) ? name.slice(jailName.length) : `-${name}`;
      withNames.actname = actname;
    }
    super(tree, 'action.d', file, jailName, withNames, ACTION_OPTIONS, problems);
    this.actname = actname;
  }

  /** The resolved commands and properties; the per-ban tags stay unresolved. */
  combined(): Map<string, PyValue> {
    return this.getCombined([...ESCAPED_TAGS, 'timeout', 'bantime']);
  }
}

/** A Python action (`name.py`), passed on as Fail2Ban passes it; we cannot run it. */
export interface PythonAction {
  actname: string;
  file: string;
  args: Record<string, string>;
}

export interface RawJail {
  name: string;
  enabled: boolean;
  /** The jail's options as Fail2Ban holds them (typed int/bool where Fail2Ban converts). */
  opts: Map<string, PyValue>;
  filter: FilterReader | null;
  /** The filter name asked for, when it could not be read. */
  missingFilter: string | null;
  /** The action name asked for, when it could not be read. */
  missingAction: string | null;
  actions: Array<ActionReader | PythonAction>;
  /** Set when Fail2Ban would skip the jail (`config-error`). */
  configError: string | null;
  problems: OptionProblem[];
}

class JailDefError extends Error {}

export function readJail(tree: ConfigTree, store: IniStore, name: string): RawJail {
  const problems: OptionProblem[] = [];
  store.mergeDefaults([
    ['fail2ban_version', FAIL2BAN_VERSION],
    ['fail2ban_confpath', tree.basedir],
  ]);
  const jail: RawJail = {
    name,
    enabled: false,
    opts: readOptions(store, name, JAIL_FIRST, { shouldExist: true, problems }),
    filter: null,
    missingFilter: null,
    missingAction: null,
    actions: [],
    configError: null,
    problems,
  };
  jail.enabled = jail.opts.get('enabled') === true;
  if (!jail.enabled) return jail;
  try {
    const spec = pyStr(jail.opts.get('filter') ?? '');
    if (spec !== '') {
      let parsed: ReturnType<typeof extractOptions>;
      try {
        parsed = extractOptions(spec);
      } catch (err) {
        throw new JailDefError(`Invalid filter definition ${pyRepr(spec)}: ${(err as Error).message}`);
      }
      const filter = new FilterReader(tree, parsed.name, name, parsed.options, problems);
      if (filter.read()) {
        filter.applyAutoOptions(pyStr(jail.opts.get('backend') ?? ''));
        filter.getOptions(jail.opts, true);
        filter.allCombined = filter.getCombined();
        const known = [...filter.allCombined].map(([k, v]) => [k, pyStr(v)] as [string, string]);
        store.mergeSection(name, known, 'known/');
        jail.filter = filter;
      } else {
        // Fail2Ban skips such a jail; we keep reading it so it can run without a filter (with a warning).
        jail.missingFilter = parsed.name;
        jail.configError = `Unable to read the filter ${pyRepr(parsed.name)}`;
      }
    }
    jail.opts = readOptions(store, name, JAIL_OPTIONS, { problems });
    jail.filter?.getOptions(jail.opts);
    for (const item of splitWithOptions(pyStr(jail.opts.get('action') ?? ''))) {
      const act = item.trim();
      if (act === '') continue;
      let parsed: ReturnType<typeof extractOptions>;
      try {
        parsed = extractOptions(act);
      } catch (err) {
        throw new JailDefError(`Invalid action definition ${pyRepr(act)}: ${(err as Error).message}`);
      }
      if (parsed.name.endsWith('.py')) {
        const args = { ...parsed.options };
        const actname = args.actname ?? parsed.name.slice(0, -3);
        delete args.actname;
        jail.actions.push({ actname, file: `${tree.basedir}/action.d/${parsed.name}`, args });
        continue;
      }
      const action = new ActionReader(tree, parsed.name, name, parsed.options, problems);
      if (!action.read()) {
        jail.missingAction = parsed.name;
        throw new JailDefError(`Unable to read action ${pyRepr(parsed.name)}`);
      }
      action.getOptions(jail.opts);
      jail.actions.push(action);
    }
  } catch (err) {
    if (!(err instanceof JailDefError)) throw err;
    jail.configError = err.message;
  }
  return jail;
}
