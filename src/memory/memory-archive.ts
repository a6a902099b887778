import { gunzipSync, gzipSync } from 'node:zlib';
import { openWithPassphrase, sealWithPassphrase } from '../backup/passphrase-box.js';
import { AppError } from '../errors/index.js';
import { EMBEDDERS } from './memory.js';
import { parseMetadata } from './memory-filter.js';
import { fromBlob, toBlob } from './memory.repository.js';
import type { MemoryService } from './memory.service.js';

/**
 * One-file export of memory: gzipped JSON lines (a header, then each collection followed by its documents,
 * embeddings as base64 float32), optionally sealed with a passphrase. Import validates every line before
 * writing anything and keeps the stored vectors.
 */
const FORMAT = 'clarion-memory';
const MAX_UNPACKED = 2 * 1024 * 1024 * 1024;

interface CollectionLine {
  type: 'collection';
  name: string;
  description: string;
  metadata: Record<string, unknown>;
  embedder: string;
  model: string | null;
  dimensions: number | null;
  chunk_size: number;
  chunk_overlap: number;
}

interface DocumentLine {
  type: 'document';
  id: string;
  source_id: string | null;
  chunk_index: number | null;
  content: string;
  metadata: Record<string, unknown>;
  embedding: string | null;
}

export async function exportMemory(
  memory: MemoryService,
  userId: string,
  opts: { collections?: string[] | undefined; passphrase?: string | undefined },
): Promise<Buffer> {
  const data = await memory.exportRows(userId, opts.collections);
  const lines: string[] = [
    JSON.stringify({ format: FORMAT, version: 1, created_at: new Date().toISOString(), collections: data.length }),
  ];
  for (const { collection: c, documents } of data) {
    const line: CollectionLine = {
      type: 'collection',
      name: c.name,
      description: c.description,
      metadata: JSON.parse(c.metadata) as Record<string, unknown>,
      embedder: c.embedder,
      model: c.model,
      dimensions: c.dimensions === null ? null : Number(c.dimensions),
      chunk_size: Number(c.chunk_size),
      chunk_overlap: Number(c.chunk_overlap),
    };
    lines.push(JSON.stringify(line));
    for (const d of documents) {
      const doc: DocumentLine = {
        type: 'document',
        id: d.doc_id,
        source_id: d.source_id,
        chunk_index: d.chunk_index === null ? null : Number(d.chunk_index),
        content: d.content,
        metadata: JSON.parse(d.metadata) as Record<string, unknown>,
        embedding: d.embedding ? Buffer.from(d.embedding).toString('base64') : null,
      };
      lines.push(JSON.stringify(doc));
    }
  }
  const packed = gzipSync(Buffer.from(lines.join('\n') + '\n'));
  return opts.passphrase ? sealWithPassphrase(packed, opts.passphrase) : packed;
}

const bad = (line: number, why: string) => new AppError('ARCHIVE_INVALID', `Line ${line}: ${why}`, { line });

export async function importMemory(
  memory: MemoryService,
  userId: string,
  archive: Buffer,
  opts: { passphrase?: string | undefined; replace: boolean },
): Promise<{ collections: { name: string; documents: number }[] }> {
  const packed = await openWithPassphrase(archive, opts.passphrase);
  let text: string;
  try {
    text = gunzipSync(packed, { maxOutputLength: MAX_UNPACKED }).toString('utf8');
  } catch {
    throw new AppError('ARCHIVE_INVALID', 'The file is not a gzip memory export.');
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  const parse = (i: number) => {
    try {
      return JSON.parse(lines[i]!) as Record<string, unknown>;
    } catch {
      throw bad(i + 1, 'is not JSON');
    }
  };
  const header = lines.length ? parse(0) : undefined;
  if (!header || header.format !== FORMAT || header.version !== 1) {
    throw new AppError('ARCHIVE_INVALID', 'The file is not a Clarion memory export.');
  }
  type Parsed = { c: CollectionLine; docs: Parameters<MemoryService['importCollection']>[2] };
  const parsed: Parsed[] = [];
  const names = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const v = parse(i);
    if (v.type === 'collection') {
      const c = v as unknown as CollectionLine;
      if (typeof c.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(c.name))
        throw bad(i + 1, 'bad collection name');
      if (names.has(c.name)) throw bad(i + 1, `collection ${c.name} appears twice`);
      if (!(EMBEDDERS as readonly string[]).includes(c.embedder)) throw bad(i + 1, 'unknown embedder');
      for (const k of ['chunk_size', 'chunk_overlap'] as const) {
        if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] > 8192) throw bad(i + 1, `bad ${k}`);
      }
      if (c.dimensions !== null && (!Number.isInteger(c.dimensions) || c.dimensions < 1 || c.dimensions > 8192)) {
        throw bad(i + 1, 'bad dimensions');
      }
      parseMetadata(c.metadata, `line ${i + 1}/metadata`);
      names.add(c.name);
      parsed.push({ c, docs: [] });
      continue;
    }
    if (v.type !== 'document') throw bad(i + 1, 'unknown line type');
    const current = parsed[parsed.length - 1];
    if (!current) throw bad(i + 1, 'a document before any collection');
    const d = v as unknown as DocumentLine;
    if (typeof d.id !== 'string' || d.id.length === 0 || d.id.length > 300) throw bad(i + 1, 'bad document id');
    if (typeof d.content !== 'string') throw bad(i + 1, 'bad content');
    const metadata = parseMetadata(d.metadata, `line ${i + 1}/metadata`);
    let embedding: Buffer | null = null;
    if (d.embedding !== null) {
      if (typeof d.embedding !== 'string') throw bad(i + 1, 'bad embedding');
      const raw = Buffer.from(d.embedding, 'base64');
      const v32 = raw.length % 4 === 0 ? fromBlob(raw) : undefined;
      if (!v32 || (current.c.dimensions !== null && v32.length !== current.c.dimensions)) {
        throw bad(i + 1, 'embedding does not match the collection dimensions');
      }
      if (v32.some((x) => !Number.isFinite(x))) throw bad(i + 1, 'embedding has non-finite values');
      embedding = toBlob(v32);
    }
    current.docs.push({
      doc_id: d.id,
      source_id: typeof d.source_id === 'string' ? d.source_id : null,
      chunk_index: Number.isInteger(d.chunk_index) ? d.chunk_index : null,
      content: d.content,
      metadata: JSON.stringify(metadata),
      embedding,
    });
  }
  for (const p of parsed) {
    const ids = new Set<string>();
    for (const d of p.docs) {
      if (ids.has(d.doc_id))
        throw new AppError('ARCHIVE_INVALID', `Document ${d.doc_id} appears twice in ${p.c.name}.`);
      ids.add(d.doc_id);
    }
  }
  if (!opts.replace) {
    for (const p of parsed) {
      const clash = await memory.collectionRow(userId, p.c.name).catch(() => undefined);
      if (clash && clash.name === p.c.name)
        throw new AppError('MEMORY_COLLECTION_EXISTS', undefined, { name: p.c.name });
    }
  }
  const out: { name: string; documents: number }[] = [];
  for (const p of parsed) {
    const r = await memory.importCollection(
      userId,
      {
        name: p.c.name,
        description: typeof p.c.description === 'string' ? p.c.description : '',
        metadata: JSON.stringify(parseMetadata(p.c.metadata, 'metadata')),
        embedder: p.c.embedder,
        model: typeof p.c.model === 'string' ? p.c.model : null,
        dimensions: p.c.dimensions,
        chunk_size: p.c.chunk_size,
        chunk_overlap: p.c.chunk_overlap,
      },
      p.docs,
      opts.replace,
    );
    out.push({ name: p.c.name, documents: r.documents });
  }
  return { collections: out };
}
