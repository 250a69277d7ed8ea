// FilterDefinitions for tests: what a filter.d file leaves at its defaults, plus what the test sets.
import type { FilterDefinition } from '../config/model.js';

export function filterDefinition(over: Partial<FilterDefinition>): FilterDefinition {
  return {
    name: 'test',
    file: null,
    args: {},
    prefregex: null,
    failregex: [],
    ignoreregex: [],
    maxlines: 1,
    datepattern: null,
    journalmatch: [],
    options: {},
    ...over,
  };
}
