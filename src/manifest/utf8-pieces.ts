/**
 * A document's bytes put together from many small strings, encoded in ~1 MB pieces: for a
 * manifest of 100k entries the lines, their join and the document as one string were ~45 MB
 * held at once at the end of a push, on top of the bytes.
 */
const PIECE = 1 << 20;

export class Utf8Pieces {
  private readonly pieces: Buffer[] = [];
  private text = '';

  add(s: string): void {
    this.text += s;
    if (this.text.length >= PIECE) this.flush();
  }

  /** One entry a line: '\n' before the first, ',\n' between, '\n' after the last (nothing when empty). */
  addLines<T>(items: readonly T[], line: (item: T) => string): void {
    for (let i = 0; i < items.length; i++) this.add((i === 0 ? '\n' : ',\n') + line(items[i]!));
    if (items.length > 0) this.add('\n');
  }

  bytes(): Buffer {
    this.flush();
    return this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces);
  }

  private flush(): void {
    if (this.text === '') return;
    this.pieces.push(Buffer.from(this.text, 'utf8'));
    this.text = '';
  }
}
