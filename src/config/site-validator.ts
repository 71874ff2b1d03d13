import type { ValidationErrorItem } from 'joi';
import { GenerationalMemo } from './generational-memo.ts';
import { siteSchema } from './schema.ts';
import type { SiteConfig } from './types.ts';

/** A site's validation: its value with defaults applied, or what is wrong with it. */
export type SiteResult =
  | { readonly value: SiteConfig; readonly details?: undefined }
  | { readonly value?: undefined; readonly details: readonly ValidationErrorItem[] };

/**
 * Validates sites with joi, remembering the valid ones by their exact content. A reload of a
 * 10,000-site file usually changes a few sites; joi takes ~50 us per site, so re-validating
 * all of them stalled every reload by half a second. Memoising is safe because validation is
 * a pure function of the site's data and the result is never mutated (snapshots freeze it).
 * Entries live for two validations: the config serving and the one being loaded.
 */
export class SiteValidator {
  readonly #byContent = new GenerationalMemo<string, SiteConfig>();
  /**
   * By identity, for the frozen site values the parser reuses for unchanged text: no
   * JSON.stringify of 10,000 sites per reload. Frozen values only, so what is remembered
   * cannot have changed since; an entry lives as long as the parser keeps the value.
   */
  readonly #byValue = new WeakMap<object, SiteConfig>();

  validate(raw: unknown): SiteResult {
    const frozen = raw !== null && typeof raw === 'object' && Object.isFrozen(raw);
    const same = frozen ? this.#byValue.get(raw) : undefined;
    if (same !== undefined) return { value: same };
    const key = JSON.stringify(raw);
    const known = this.#byContent.get(key);
    if (known !== undefined) {
      if (frozen) this.#byValue.set(raw, known);
      return { value: known };
    }
    const { value, error } = siteSchema.validate(raw, {
      abortEarly: false,
      errors: { label: false },
    });
    if (error) return { details: error.details };
    this.#byContent.set(key, value as SiteConfig);
    if (frozen) this.#byValue.set(raw, value as SiteConfig);
    return { value: value as SiteConfig };
  }

  /** Ends one config's validation: what it did not use is forgotten at the next end. */
  endGeneration(): void {
    this.#byContent.endGeneration();
  }
}
