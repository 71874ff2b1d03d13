import type { ValidationErrorItem } from 'joi';
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
  #previous = new Map<string, SiteConfig>();
  #current = new Map<string, SiteConfig>();

  validate(raw: unknown): SiteResult {
    const key = JSON.stringify(raw);
    const known = this.#current.get(key) ?? this.#previous.get(key);
    if (known !== undefined) {
      this.#current.set(key, known);
      return { value: known };
    }
    const { value, error } = siteSchema.validate(raw, {
      abortEarly: false,
      errors: { label: false },
    });
    if (error) return { details: error.details };
    this.#current.set(key, value as SiteConfig);
    return { value: value as SiteConfig };
  }

  /** Ends one config's validation: what it did not use is forgotten at the next end. */
  endGeneration(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
}
