import { yaml } from '@codemirror/lang-yaml';
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import CodeMirror, { EditorView, type ReactCodeMirrorRef } from '@uiw/react-codemirror';
import { AlertCircle, CheckCircle2, History, Play, Save } from 'lucide-react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { RunInputsModal } from '../components/run-inputs-modal';
import { StepGraph } from '../components/step-graph';
import { Badge, Button, ErrorState, FormError, PageHeader, QueryView, Spinner, cx } from '../components/ui';
import { relativeTime } from '../lib/format';
import { lineOfPath, parseWorkflow, type DefinitionIssue } from '../lib/workflow-graph';
import { issuesOf, workflowsApi, type Workflow } from '../lib/workflows-api';

const TEMPLATE = `name: hello-world
description: My first workflow
inputs:
  who: { type: string, default: world }
steps:
  - id: greet
    uses: transform
    with:
      value: "Hello, \${{ inputs.who }}"
  - id: pause
    needs: [greet]
    uses: delay
    with: { duration: 1s }
outputs:
  greeting: \${{ steps.greet.output }}
`;

export default function WorkflowEditor() {
  const { id } = useParams();
  const existing = useQuery({ queryKey: ['workflow', id], queryFn: () => workflowsApi.get(id!), enabled: !!id });
  if (id && existing.isLoading) return <Spinner />;
  if (id && existing.error) return <ErrorState error={existing.error} retry={() => void existing.refetch()} />;
  return <Editor key={id ?? 'new'} workflow={existing.data} />;
}

function Editor({ workflow }: { workflow: Workflow | undefined }) {
  const [text, setText] = useState(workflow?.source ?? TEMPLATE);
  const [serverIssues, setServerIssues] = useState<DefinitionIssue[]>([]);
  const [saveError, setSaveError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<Workflow | undefined>(workflow);
  const [running, setRunning] = useState(false);
  const [showVersions, setShowVersions] = useState(false);
  const [selected, setSelected] = useState<string>();
  const editor = useRef<ReactCodeMirrorRef>(null);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const dark = document.documentElement.classList.contains('dark');

  const parsed = useMemo(() => parseWorkflow(text), [text]);
  const issues = [...parsed.issues, ...serverIssues];
  const dirty = text !== (saved?.source ?? '');

  // Server issues belong to the text they were found in; editing clears them.
  useEffect(() => {
    setServerIssues([]);
  }, [text]);

  const lint = useMemo(
    () =>
      linter(
        (view) => {
          const doc = view.state.doc;
          return issues
            .filter((i) => i.line !== undefined && i.line >= 1 && i.line <= doc.lines)
            .map((i): Diagnostic => {
              const l = doc.line(i.line!);
              return { from: l.from, to: Math.max(l.from, l.to), severity: 'error', message: i.message };
            });
        },
        { delay: 150 },
      ),
    [JSON.stringify(issues)],
  );

  const goToLine = (line: number | undefined) => {
    const view = editor.current?.view;
    if (!view || !line) return;
    const l = view.state.doc.line(Math.min(line, view.state.doc.lines));
    view.dispatch({ selection: { anchor: l.from }, effects: EditorView.scrollIntoView(l.from, { y: 'center' }) });
    view.focus();
  };

  const selectStep = (stepId: string) => {
    setSelected(stepId);
    goToLine(parsed.steps.find((s) => s.id === stepId)?.line);
  };

  const save = async () => {
    setSaving(true);
    setSaveError(undefined);
    try {
      const res = saved ? await workflowsApi.update(saved.id, text) : await workflowsApi.create(text);
      setSaved(res);
      void qc.invalidateQueries({ queryKey: ['/api', '/v1', '/workflows'] });
      qc.setQueryData(['workflow', res.id], res);
      if (!saved) navigate(`/workflows/${res.id}`, { replace: true });
    } catch (err) {
      const found = issuesOf(err).map((i) => ({
        line: i.line ?? lineOfPath(parsed, i.path),
        message: i.message,
        path: i.path,
      }));
      setServerIssues(found);
      setSaveError(found.length ? undefined : err);
    } finally {
      setSaving(false);
    }
  };

  return (
    <div>
      <PageHeader
        title={saved ? saved.name : 'New workflow'}
        description={
          saved ? (
            <span className="flex items-center gap-2">
              <Badge tone="violet">v{saved.version}</Badge> saved {relativeTime(saved.updated_at)}
              {dirty && <Badge tone="amber">unsaved changes</Badge>}
            </span>
          ) : (
            'Write the steps in YAML; the graph follows as you type.'
          )
        }
        actions={
          <>
            <Link to="/workflows" className="text-sm text-slate-500 hover:underline">
              All workflows
            </Link>
            {saved && (
              <Button variant="secondary" onClick={() => setShowVersions((v) => !v)} aria-expanded={showVersions}>
                <History className="size-4" /> Versions
              </Button>
            )}
            <Button
              variant="secondary"
              onClick={() => void save()}
              busy={saving}
              disabled={parsed.issues.length > 0 || (!!saved && !dirty)}
            >
              <Save className="size-4" /> Save
            </Button>
            <Button
              onClick={() => setRunning(true)}
              disabled={!saved || dirty}
              title={dirty ? 'Save first' : undefined}
            >
              <Play className="size-4" /> Run
            </Button>
          </>
        }
      />
      {showVersions && saved && <Versions workflow={saved} onLoad={(src) => setText(src)} />}
      <div className="grid gap-4 xl:grid-cols-2">
        <div className="min-w-0">
          <div
            className="overflow-hidden rounded-lg ring-1 ring-slate-200 dark:ring-slate-800"
            data-testid="yaml-editor"
          >
            <CodeMirror
              ref={editor}
              value={text}
              height="520px"
              theme={dark ? 'dark' : 'light'}
              extensions={[yaml(), lintGutter(), lint]}
              onChange={setText}
              aria-label="Workflow YAML"
              basicSetup={{ foldGutter: true, highlightActiveLine: true }}
            />
          </div>
        </div>
        <div className="min-w-0 space-y-3">
          {parsed.steps.length ? (
            <StepGraph
              height={520}
              selected={selected}
              onSelect={selectStep}
              steps={parsed.steps.map((s) => ({
                id: s.id,
                needs: s.needs,
                uses: s.uses,
                condition: s.condition,
                foreach: s.foreach,
                wait: s.wait,
              }))}
            />
          ) : (
            <div className="flex h-[520px] items-center justify-center rounded-lg bg-slate-50 text-sm text-slate-500 ring-1 ring-slate-200 dark:bg-slate-950 dark:ring-slate-800">
              The graph appears when the YAML has steps.
            </div>
          )}
        </div>
      </div>
      <div className="mt-4" aria-live="polite" data-testid="issues">
        {issues.length ? (
          <ul className="space-y-1 rounded-lg bg-rose-50 p-3 text-sm text-rose-800 ring-1 ring-rose-200 dark:bg-rose-950/40 dark:text-rose-300 dark:ring-rose-900">
            {issues.map((i, n) => (
              <li key={n} className="flex items-start gap-2">
                <AlertCircle className="mt-0.5 size-4 shrink-0" aria-hidden />
                <button
                  type="button"
                  className={cx('text-left', !!i.line && 'hover:underline')}
                  onClick={() => goToLine(i.line)}
                >
                  {i.line ? <span className="font-mono font-medium">Line {i.line}: </span> : null}
                  {i.message}
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <p className="flex items-center gap-2 text-sm text-emerald-700 dark:text-emerald-400">
            <CheckCircle2 className="size-4" /> {parsed.steps.length} step{parsed.steps.length === 1 ? '' : 's'}, no
            problems found.
          </p>
        )}
        <div className="mt-2">
          <FormError error={saveError} />
        </div>
      </div>
      <RunInputsModal workflow={saved} open={running} onClose={() => setRunning(false)} />
    </div>
  );
}

function Versions({ workflow, onLoad }: { workflow: Workflow; onLoad: (source: string) => void }) {
  const versions = useQuery({
    queryKey: ['workflow-versions', workflow.id, workflow.version],
    queryFn: () => workflowsApi.versions(workflow.id),
  });
  return (
    <div className="mb-4 rounded-lg bg-white p-3 ring-1 ring-slate-200 dark:bg-slate-900 dark:ring-slate-800">
      <QueryView query={versions} noRetry>
        {(data) => (
          <ul className="flex flex-wrap gap-2 text-sm">
            {data.items.map((v) => (
              <li key={v.version}>
                <button
                  type="button"
                  onClick={() => onLoad(v.source)}
                  className="rounded-md px-2 py-1 ring-1 ring-slate-200 hover:bg-slate-50 dark:ring-slate-700 dark:hover:bg-slate-800"
                  title="Load this version into the editor (save to make it current)"
                >
                  v{v.version} · {relativeTime(v.created_at)}
                </button>
              </li>
            ))}
          </ul>
        )}
      </QueryView>
    </div>
  );
}
