/** A place blocks and variables can come from: a local file or the Prefect API. */
export interface BlockSource {
  /** For messages: "blocks file ./blocks.yaml", "Prefect API http://…". */
  readonly description: string;
  /** The block document's data, or null when this source does not have it. */
  readBlock(typeSlug: string, name: string): Promise<Record<string, unknown> | null>;
  /** A block document by id (`$ref`), or null when this source does not have it. */
  readBlockById(id: string): Promise<Record<string, unknown> | null>;
  /** `{ value }` of the variable, or null when this source does not have it. */
  readVariable(name: string): Promise<{ value: unknown } | null>;
}
