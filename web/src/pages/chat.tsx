import { useQuery, useQueryClient } from '@tanstack/react-query';
import { MessageSquare, Plus, RotateCcw, Send, Square } from 'lucide-react';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { Button, EmptyState, ErrorState, FormError, PageHeader, Spinner, cx } from '../components/ui';
import { api, type Page } from '../lib/api';
import { relativeTime } from '../lib/format';
import { useGet } from '../lib/queries';
import { readSse } from '../lib/sse';

interface Citation {
  n: number;
  collection_id: string;
  document_id: string;
  source_id: string | null;
  score: number;
  snippet: string;
}
interface Message {
  id: string;
  role: string;
  content: string;
  status: string;
  citations: Citation[];
  model: string | null;
  error: string | null;
}
interface Conversation {
  id: string;
  title: string | null;
  agent_id: string | null;
  model: string | null;
  updated_at: string;
}

const KEY = ['/api', '/v1', '/conversations'];

export default function Chat() {
  const { id } = useParams();
  const conversations = useGet<Page<Conversation>>('/api/v1/conversations?limit=100');
  const agents = useGet<Page<{ id: string; name: string }>>('/api/v1/agents?limit=200');
  const models = useGet<{ items: { id: string }[]; aliases: string[] }>('/api/v1/models');
  // A conversation talks to an agent (its prompt, tools, memory) or straight to a model.
  const choices = [
    ...(agents.data?.items ?? []).map((a) => ({ value: `agent:${a.id}`, label: a.name, group: 'Agents' })),
    ...[...(models.data?.aliases ?? []), ...(models.data?.items ?? []).map((m) => m.id)].map((m) => ({
      value: `model:${m}`,
      label: m,
      group: 'Models',
    })),
  ];
  const [picked, setPicked] = useState('');
  const choice = picked || choices[0]?.value || '';
  const [error, setError] = useState<unknown>();
  const navigate = useNavigate();
  const qc = useQueryClient();

  const start = async () => {
    setError(undefined);
    try {
      const [kind, ref] = [choice.slice(0, choice.indexOf(':')), choice.slice(choice.indexOf(':') + 1)];
      const c = await api.post<Conversation>(
        '/api/v1/conversations',
        kind === 'agent' ? { agent: ref } : { model: ref },
      );
      void qc.invalidateQueries({ queryKey: KEY });
      navigate(`/chat/${c.id}`);
    } catch (err) {
      setError(err);
    }
  };

  if (conversations.error) {
    return (
      <div>
        <PageHeader title="Chat" />
        <ErrorState error={conversations.error} retry={() => void conversations.refetch()} />
      </div>
    );
  }
  return (
    <div className="flex h-[calc(100vh-3rem)] flex-col lg:h-[calc(100vh-3rem)]">
      <PageHeader
        title="Chat"
        description="Talk with an agent; answers stream in and cite the memory they used."
        actions={
          <>
            <select
              aria-label="Talk to"
              value={choice}
              onChange={(e) => setPicked(e.target.value)}
              className="min-w-40 rounded-md border-0 py-1.5 text-sm ring-1 ring-slate-300 dark:bg-slate-900 dark:ring-slate-700"
            >
              {choices.length === 0 && <option value="">No agent or model yet</option>}
              {['Agents', 'Models'].map((g) => (
                <optgroup key={g} label={g}>
                  {choices
                    .filter((c) => c.group === g)
                    .map((c) => (
                      <option key={c.value} value={c.value}>
                        {c.label}
                      </option>
                    ))}
                </optgroup>
              ))}
            </select>
            <Button onClick={() => void start()} disabled={!choice}>
              <Plus className="size-4" /> New chat
            </Button>
          </>
        }
      />
      <FormError error={error} />
      <div className="grid min-h-0 flex-1 gap-4 lg:grid-cols-4">
        <nav aria-label="Conversations" className="min-h-0 space-y-1 overflow-y-auto lg:col-span-1">
          {conversations.isLoading ? (
            <Spinner />
          ) : !conversations.data?.items.length ? (
            <p className="p-2 text-sm text-slate-500">No conversations yet.</p>
          ) : (
            conversations.data.items.map((c) => (
              <Link
                key={c.id}
                to={`/chat/${c.id}`}
                aria-current={c.id === id ? 'page' : undefined}
                className={cx(
                  'block rounded-md px-3 py-2 text-sm',
                  c.id === id
                    ? 'bg-indigo-50 text-indigo-700 dark:bg-indigo-500/10 dark:text-indigo-300'
                    : 'hover:bg-slate-100 dark:hover:bg-slate-800',
                )}
              >
                <div className="truncate font-medium">{c.title ?? 'New conversation'}</div>
                <div className="text-xs text-slate-500">{relativeTime(c.updated_at)}</div>
              </Link>
            ))
          )}
        </nav>
        <div className="min-h-0 lg:col-span-3">
          {id ? (
            <Conversation key={id} id={id} />
          ) : (
            <EmptyState
              icon={<MessageSquare className="size-8" />}
              title="Pick a conversation or start one"
              action={
                choices.length ? (
                  <Button onClick={() => void start()}>New chat</Button>
                ) : (
                  <Link className="text-sm font-medium text-indigo-600 hover:underline" to="/settings/providers">
                    Connect a model provider first
                  </Link>
                )
              }
            >
              Choose an agent above to give it its instructions, tools and memory, or talk to a model directly.
            </EmptyState>
          )}
        </div>
      </div>
    </div>
  );
}

function Conversation({ id }: { id: string }) {
  const qc = useQueryClient();
  const conv = useQuery({
    queryKey: ['conversation', id],
    queryFn: () => api.get<Conversation & { messages: Message[] }>(`/api/v1/conversations/${id}`),
  });
  const [text, setText] = useState('');
  const [pending, setPending] = useState<{ user?: Message; answer: string; citations: Citation[] }>();
  const [error, setError] = useState<unknown>();
  const abort = useRef<AbortController | undefined>(undefined);
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => {
    // Block body on purpose: Chromium's scrollIntoView now returns a promise, which an effect must not return.
    void bottom.current?.scrollIntoView({ block: 'end' });
  }, [conv.data, pending?.answer]);
  useEffect(() => () => abort.current?.abort(), []);

  const stream = async (path: string, body: unknown) => {
    const ctrl = new AbortController();
    abort.current = ctrl;
    setError(undefined);
    setPending({ answer: '', citations: [] });
    try {
      await readSse(
        path,
        (m) => {
          const data = JSON.parse(m.data || '{}') as Record<string, unknown>;
          if (m.event === 'message') setPending((p) => p && { ...p, user: data.message as Message });
          else if (m.event === 'citations') setPending((p) => p && { ...p, citations: data.citations as Citation[] });
          else if (m.event === 'delta') setPending((p) => p && { ...p, answer: p.answer + String(data.text ?? '') });
          else if (m.event === 'error') setError(new Error(String(data.message ?? 'The answer failed.')));
        },
        { signal: ctrl.signal, body },
      );
    } catch (err) {
      setError(err);
    } finally {
      abort.current = undefined;
      await qc.invalidateQueries({ queryKey: ['conversation', id] });
      void qc.invalidateQueries({ queryKey: KEY });
      setPending(undefined);
    }
  };

  const send = (e: FormEvent) => {
    e.preventDefault();
    const content = text.trim();
    if (!content || pending) return;
    setText('');
    void stream(`/api/v1/conversations/${id}/messages`, { content, stream: true });
  };
  const stop = async () => {
    // The server keeps what was written so far and marks the answer stopped.
    await api.post(`/api/v1/conversations/${id}/stop`).catch(() => undefined);
    abort.current?.abort();
  };

  if (conv.isLoading) return <Spinner />;
  if (conv.error) return <ErrorState error={conv.error} retry={() => void conv.refetch()} />;
  const messages = conv.data!.messages;
  const last = messages[messages.length - 1];

  return (
    <div className="flex h-full flex-col rounded-lg bg-white ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
      <div className="min-h-0 flex-1 space-y-4 overflow-y-auto p-4" aria-live="polite" data-testid="messages">
        {messages.length === 0 && !pending && (
          <p className="py-10 text-center text-sm text-slate-500">Ask anything to begin.</p>
        )}
        {messages.map((m) => (
          <Bubble
            key={m.id}
            role={m.role}
            content={m.content}
            citations={m.citations}
            status={m.status}
            error={m.error}
          />
        ))}
        {pending && (
          <>
            {pending.user && <Bubble role="user" content={pending.user.content} citations={[]} status="complete" />}
            <Bubble role="assistant" content={pending.answer} citations={pending.citations} status="streaming" />
          </>
        )}
        <div ref={bottom} />
      </div>
      <div className="border-t border-slate-200 p-3 dark:border-slate-800">
        <FormError error={error} />
        <form onSubmit={send} className="mt-1 flex items-end gap-2">
          <textarea
            aria-label="Message"
            rows={2}
            value={text}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) send(e);
            }}
            placeholder="Write a message (Enter to send, Shift+Enter for a new line)"
            className="flex-1 resize-none rounded-md border-0 bg-white px-3 py-2 text-sm ring-1 ring-slate-300 focus:ring-2 focus:ring-indigo-500 focus:outline-none dark:bg-slate-950 dark:ring-slate-700"
          />
          {pending ? (
            <Button variant="secondary" onClick={() => void stop()}>
              <Square className="size-4" /> Stop
            </Button>
          ) : (
            <>
              {last?.role === 'assistant' && (
                <Button
                  variant="ghost"
                  onClick={() => void stream(`/api/v1/conversations/${id}/regenerate`, { stream: true })}
                  title="Answer the last message again"
                >
                  <RotateCcw className="size-4" /> Regenerate
                </Button>
              )}
              <Button type="submit" disabled={!text.trim()}>
                <Send className="size-4" /> Send
              </Button>
            </>
          )}
        </form>
      </div>
    </div>
  );
}

function Bubble({
  role,
  content,
  citations,
  status,
  error,
}: {
  role: string;
  content: string;
  citations: Citation[];
  status: string;
  error?: string | null;
}) {
  const mine = role === 'user';
  return (
    <div className={cx('flex', mine ? 'justify-end' : 'justify-start')} data-role={role} data-status={status}>
      <div
        className={cx(
          'max-w-[85%] rounded-2xl px-4 py-2 text-sm',
          mine ? 'bg-indigo-600 text-white' : 'bg-slate-100 dark:bg-slate-800',
        )}
      >
        <p className="whitespace-pre-wrap">
          {content}
          {status === 'streaming' && (
            <span
              className="ml-0.5 inline-block h-4 w-1.5 animate-pulse bg-current align-middle"
              aria-label="writing"
            />
          )}
        </p>
        {status === 'stopped' && <p className="mt-1 text-xs opacity-70">stopped</p>}
        {error && <p className="mt-1 text-xs text-rose-500">{error}</p>}
        {citations.length > 0 && (
          <ol className="mt-2 space-y-1 border-t border-slate-300/50 pt-2 text-xs opacity-90" aria-label="Sources">
            {citations.map((c) => (
              <li key={c.n} title={`score ${c.score.toFixed(3)}`}>
                <span className="font-semibold">[{c.n}]</span> {c.snippet.slice(0, 160)}
                {c.snippet.length > 160 ? '…' : ''}
              </li>
            ))}
          </ol>
        )}
      </div>
    </div>
  );
}
