import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Brain, Plus, Search } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import {
  Badge,
  Button,
  Card,
  cx,
  DeleteButton,
  EmptyState,
  ErrorState,
  FormError,
  Modal,
  PageHeader,
  SelectInput,
  Spinner,
  TextArea,
  TextInput,
} from '../components/ui';
import { api, type Page } from '../lib/api';
import { compactNumber, relativeTime } from '../lib/format';
import { useGet } from '../lib/queries';
import { parseJsonObject, type FieldErrors } from '../lib/validation';

interface Collection {
  id: string;
  name: string;
  description: string;
  embedding: { embedder: string; model: string | null; dimensions: number | null; semantic: boolean };
  chunking: { size: number; overlap: number };
  document_count?: number;
  updated_at: string;
}
interface Hit {
  id: string;
  source_id: string | null;
  chunk_index: number | null;
  content: string;
  metadata: Record<string, string | number | boolean>;
  score: number;
}

const KEY = ['/api', '/v1', '/memory'];

export default function Memory() {
  const collections = useGet<Page<Collection>>('/api/v1/memory/collections?limit=200');
  const [selectedId, setSelectedId] = useState<string>();
  const [creating, setCreating] = useState(false);
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: string) => api.delete(`/api/v1/memory/collections/${id}`),
    onSuccess: () => {
      setSelectedId(undefined);
      void qc.invalidateQueries({ queryKey: KEY });
    },
  });
  const items = collections.data?.items ?? [];
  const selected = items.find((c) => c.id === selectedId) ?? items[0];

  return (
    <div>
      <PageHeader
        title="Memory"
        description="Collections of documents agents can search by keyword, by meaning, or both."
        actions={
          <Button onClick={() => setCreating(true)}>
            <Plus className="size-4" /> New collection
          </Button>
        }
      />
      {collections.isLoading ? (
        <Spinner />
      ) : collections.error ? (
        <ErrorState error={collections.error} retry={() => void collections.refetch()} />
      ) : !items.length ? (
        <EmptyState
          icon={<Brain className="size-8" />}
          title="No collections yet"
          action={<Button onClick={() => setCreating(true)}>Create a collection</Button>}
        >
          A collection holds documents (notes, manuals, tickets) cut into chunks an agent can find again.
        </EmptyState>
      ) : (
        <div className="grid gap-6 lg:grid-cols-4">
          <nav aria-label="Collections" className="space-y-1 lg:col-span-1">
            {items.map((c) => (
              <button
                key={c.id}
                type="button"
                onClick={() => setSelectedId(c.id)}
                aria-current={selected?.id === c.id}
                className={cx(
                  'w-full rounded-md px-3 py-2 text-left text-sm',
                  selected?.id === c.id
                    ? 'bg-indigo-50 text-indigo-700 dark:bg-indigo-500/10 dark:text-indigo-300'
                    : 'hover:bg-slate-100 dark:hover:bg-slate-800',
                )}
              >
                <div className="font-medium">{c.name}</div>
                <div className="text-xs text-slate-500">
                  {compactNumber(c.document_count ?? 0)} chunks · {c.embedding.embedder}
                </div>
              </button>
            ))}
          </nav>
          {selected && (
            <div className="space-y-6 lg:col-span-3">
              <Card
                title={selected.name}
                actions={
                  <DeleteButton
                    label={`Delete ${selected.name}`}
                    confirmText={`Delete the collection "${selected.name}" and its documents?`}
                    onDelete={() => remove.mutate(selected.id)}
                  />
                }
              >
                <p className="text-sm text-slate-600 dark:text-slate-400">
                  {selected.description || 'No description.'}
                </p>
                <div className="mt-2 flex flex-wrap gap-2 text-xs">
                  <Badge tone={selected.embedding.semantic ? 'violet' : 'gray'}>
                    {selected.embedding.embedder}
                    {selected.embedding.model ? ` · ${selected.embedding.model}` : ''}
                  </Badge>
                  {!selected.embedding.semantic && (
                    <span className="text-slate-500">matches shared words, not meaning</span>
                  )}
                  <Badge>
                    chunks of {selected.chunking.size} tokens, {selected.chunking.overlap} overlap
                  </Badge>
                  <span className="text-slate-500">updated {relativeTime(selected.updated_at)}</span>
                </div>
                <AddDocument collection={selected} />
              </Card>
              <SearchPlayground collection={selected} />
            </div>
          )}
        </div>
      )}
      <FormError error={remove.error} />
      <CreateCollectionModal open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function AddDocument({ collection }: { collection: Collection }) {
  const qc = useQueryClient();
  const [content, setContent] = useState('');
  const [metadata, setMetadata] = useState('');
  const [error, setError] = useState<string>();
  const add = useMutation({
    mutationFn: (body: unknown) =>
      api.post<{ ids?: string[] }>(`/api/v1/memory/collections/${collection.id}/documents`, body),
    onSuccess: () => {
      setContent('');
      setMetadata('');
      void qc.invalidateQueries({ queryKey: KEY });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const m = parseJsonObject(metadata);
    if (!content.trim()) return setError('Write or paste the document text.');
    if (m.error) return setError(`Metadata: ${m.error}`);
    setError(undefined);
    add.mutate({ documents: [{ content, ...(metadata.trim() ? { metadata: m.value } : {}) }] });
  };
  return (
    <form onSubmit={submit} className="mt-4 space-y-3 border-t border-slate-100 pt-4 dark:border-slate-800" noValidate>
      <TextArea
        label="Add a document"
        rows={4}
        value={content}
        onChange={(e) => setContent(e.target.value)}
        className="font-sans text-sm"
        placeholder="Paste text; long documents are cut into chunks."
      />
      <TextInput
        label="Metadata (JSON, optional)"
        value={metadata}
        onChange={(e) => setMetadata(e.target.value)}
        placeholder='{"source": "handbook", "year": 2026}'
        className="font-mono"
      />
      {error && (
        <p className="text-xs text-rose-600" role="alert">
          {error}
        </p>
      )}
      <FormError error={add.error} />
      <div className="flex items-center gap-3">
        <Button type="submit" busy={add.isPending}>
          Add document
        </Button>
        {add.isSuccess && <span className="text-sm text-emerald-600">Added.</span>}
      </div>
    </form>
  );
}

function SearchPlayground({ collection }: { collection: Collection }) {
  const [query, setQuery] = useState('');
  const [mode, setMode] = useState<'hybrid' | 'keyword' | 'vector'>('hybrid');
  const [topK, setTopK] = useState('5');
  const [where, setWhere] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const search = useMutation({
    mutationFn: (body: unknown) =>
      api.post<{ mode: string; items: Hit[] }>(`/api/v1/memory/collections/${collection.id}/query`, body),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    if (!query.trim()) v.query = 'What are you looking for?';
    const k = Number(topK);
    if (!Number.isInteger(k) || k < 1 || k > 1000) v.topK = '1 to 1000.';
    const w = parseJsonObject(where);
    if (w.error) v.where = w.error;
    setErrors(v);
    if (Object.keys(v).length) return;
    search.mutate({ query, mode, top_k: k, ...(where.trim() ? { where: w.value } : {}) });
  };
  return (
    <Card title="Search playground">
      <form onSubmit={submit} className="grid gap-3 md:grid-cols-[minmax(0,1fr)_8rem_6rem_auto]" noValidate>
        <div>
          <TextInput
            label="Query"
            type="search"
            value={query}
            error={errors.query}
            onChange={(e) => setQuery(e.target.value)}
          />
        </div>
        <SelectInput label="Mode" value={mode} onChange={(e) => setMode(e.target.value as typeof mode)}>
          <option value="hybrid">hybrid</option>
          <option value="keyword">keyword</option>
          <option value="vector">vector</option>
        </SelectInput>
        <TextInput
          label="Results"
          inputMode="numeric"
          value={topK}
          error={errors.topK}
          onChange={(e) => setTopK(e.target.value)}
        />
        <div className="flex items-end">
          <Button type="submit" busy={search.isPending} className="w-full">
            <Search className="size-4" /> Search
          </Button>
        </div>
        <div className="md:col-span-4">
          <TextInput
            label="Filter on metadata (JSON, optional)"
            value={where}
            error={errors.where}
            onChange={(e) => setWhere(e.target.value)}
            placeholder='{"source": "handbook"}'
            className="font-mono"
          />
        </div>
      </form>
      <div className="mt-4" aria-live="polite">
        <FormError error={search.error} />
        {search.data &&
          (search.data.items.length === 0 ? (
            <p className="text-sm text-slate-500">Nothing found.</p>
          ) : (
            <ol className="space-y-2" data-testid="search-results">
              {search.data.items.map((h) => (
                <li key={h.id} className="rounded-md p-3 ring-1 ring-slate-200 dark:ring-slate-800">
                  <div className="mb-1 flex items-center justify-between text-xs text-slate-500">
                    <span className="font-mono">
                      {h.source_id ?? h.id}
                      {h.chunk_index !== null ? ` #${h.chunk_index}` : ''}
                    </span>
                    <span title={`${search.data.mode} score`}>score {h.score.toPrecision(3)}</span>
                  </div>
                  <p className="line-clamp-4 whitespace-pre-wrap text-sm">{h.content}</p>
                  {Object.keys(h.metadata).length > 0 && (
                    <div className="mt-1 flex flex-wrap gap-1">
                      {Object.entries(h.metadata).map(([k, v]) => (
                        <Badge key={k}>
                          {k}: {String(v)}
                        </Badge>
                      ))}
                    </div>
                  )}
                </li>
              ))}
            </ol>
          ))}
      </div>
    </Card>
  );
}

function CreateCollectionModal({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [f, setF] = useState({ name: '', description: '', embedder: 'lexical', model: '' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const create = useMutation({
    mutationFn: () =>
      api.post('/api/v1/memory/collections', {
        name: f.name.trim(),
        description: f.description,
        embedding: { embedder: f.embedder, ...(f.embedder === 'provider' && f.model ? { model: f.model } : {}) },
      }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: KEY });
      setF({ name: '', description: '', embedder: 'lexical', model: '' });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v: FieldErrors = {};
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(f.name))
      v.name = 'Letters, digits, . _ - (starting with a letter or digit).';
    if (f.embedder === 'provider' && !f.model)
      v.model = 'Name the embedding model, e.g. openai/text-embedding-3-small.';
    setErrors(v);
    if (!Object.keys(v).length) create.mutate();
  };
  return (
    <Modal open={open} onClose={onClose} title="New collection">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <TextInput
          label="Name"
          value={f.name}
          error={errors.name}
          onChange={(e) => setF({ ...f, name: e.target.value })}
          autoFocus
        />
        <TextInput
          label="Description"
          value={f.description}
          onChange={(e) => setF({ ...f, description: e.target.value })}
        />
        <SelectInput label="Embeddings" value={f.embedder} onChange={(e) => setF({ ...f, embedder: e.target.value })}>
          <option value="lexical">Built in (matches words; no provider needed)</option>
          <option value="provider">A model provider (matches meaning)</option>
          <option value="none">None (keyword search only)</option>
        </SelectInput>
        {f.embedder === 'provider' && (
          <TextInput
            label="Embedding model"
            value={f.model}
            error={errors.model}
            onChange={(e) => setF({ ...f, model: e.target.value })}
          />
        )}
        <FormError error={create.error} />
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" busy={create.isPending}>
            Create collection
          </Button>
        </div>
      </form>
    </Modal>
  );
}
