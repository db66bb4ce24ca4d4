import type { ElementInfo, ElementModel, TypeModel, ValueSetExpansions } from './element-model-types.js';
import { readGeneratedJson } from './generated-files.js';

export interface ChildDef {
  /** Element name as defined, without `[x]`. */
  name: string;
  info: ElementInfo;
  /** Path of the child relative to its type ('component.code'). */
  path: string;
}

export interface ChildLookup {
  name: string;
  def: ChildDef;
  /** The type this JSON property holds (the chosen one for a choice element). */
  type: string;
}

export interface TypeIndex {
  name: string;
  model: TypeModel;
  /** Children of each element path: JSON property name -> definition. */
  byJsonName(path: string): Map<string, ChildLookup>;
  childrenOf(path: string): ChildDef[];
  hasChildren(path: string): boolean;
}

let model: ElementModel | undefined;
let expansions: Map<string, Map<string, Set<string>> | null> | undefined;
const indexes = new Map<string, TypeIndex | undefined>();

function loadModel(): ElementModel {
  return (model ??= readGeneratedJson<ElementModel>('fhir-elements.json'));
}

export function isPrimitiveType(type: string): boolean {
  return type.startsWith('System.') || /^[a-z]/.test(type);
}

export function typeIndex(type: string): TypeIndex | undefined {
  if (indexes.has(type)) return indexes.get(type);
  const m = loadModel().types[type];
  const index = m ? buildIndex(type, m) : undefined;
  indexes.set(type, index);
  return index;
}

function buildIndex(name: string, typeModel: TypeModel): TypeIndex {
  const children = new Map<string, ChildDef[]>();
  for (const [path, info] of Object.entries(typeModel.elements)) {
    if (path === '') continue;
    const dot = path.lastIndexOf('.');
    const parent = dot < 0 ? '' : path.slice(0, dot);
    const raw = path.slice(dot + 1);
    const def: ChildDef = { name: raw.replace(/\[x\]$/, ''), info, path };
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(def);
  }
  const lookups = new Map<string, Map<string, ChildLookup>>();
  return {
    name,
    model: typeModel,
    childrenOf: (path) => children.get(path) ?? [],
    hasChildren: (path) => children.has(path),
    byJsonName(path) {
      let map = lookups.get(path);
      if (map) return map;
      map = new Map();
      for (const def of children.get(path) ?? []) {
        if (def.info.choice) {
          for (const t of def.info.types) map.set(def.name + t[0].toUpperCase() + t.slice(1), { name: def.name, def, type: t });
        } else {
          map.set(def.name, { name: def.name, def, type: def.info.types[0] ?? 'BackboneElement' });
        }
      }
      lookups.set(path, map);
      return map;
    },
  };
}

/** system -> codes of a required value set; null when it cannot be checked here; undefined when unknown. */
export function valueSetCodes(url: string): Map<string, Set<string>> | null | undefined {
  if (!expansions) {
    expansions = new Map();
    const raw = readGeneratedJson<ValueSetExpansions>('fhir-value-sets.json');
    for (const [vs, systems] of Object.entries(raw)) {
      expansions.set(vs, systems ? new Map(Object.entries(systems).map(([s, codes]) => [s, new Set(codes)])) : null);
    }
  }
  return expansions.get(url);
}

/** Lets profiles register value sets expanded from fhir-profiles/. */
export function registerValueSet(url: string, systems: Map<string, Set<string>> | null): void {
  valueSetCodes(url);
  expansions?.set(url, systems);
}
