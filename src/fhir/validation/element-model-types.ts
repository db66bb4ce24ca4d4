/** Shapes of src/generated/fhir-elements.json, written by scripts/build-validators.ts. */

export interface ConstraintInfo {
  key: string;
  severity: 'error' | 'warning';
  human: string;
  expression: string;
}

export interface ElementInfo {
  min: number;
  /** -1 stands for `*`. */
  max: number;
  types: string[];
  /** The element's name ends in `[x]`: its JSON name is the name plus the capitalised type. */
  choice?: true;
  /** Path (relative to the type) whose definition this element reuses (Questionnaire.item.item). */
  contentReference?: string;
  /**
   * The resource types a Reference may name (from `targetProfile`), when the
   * definition restricts them; absent when any resource will do.
   */
  targets?: string[];
  /** Canonical of the ValueSet of a required binding, without version. */
  binding?: string;
  constraints?: ConstraintInfo[];
}

export interface TypeModel {
  kind: 'resource' | 'complex-type' | 'primitive-type';
  /** Keyed by path relative to the type: '' is the type itself, 'component.code' an element. */
  elements: Record<string, ElementInfo>;
}

export interface ElementModel {
  types: Record<string, TypeModel>;
  requiredValueSets: string[];
}

/** Canonical -> system -> codes; null when the value set cannot be expanded locally (external code system). */
export type ValueSetExpansions = Record<string, Record<string, string[]> | null>;
