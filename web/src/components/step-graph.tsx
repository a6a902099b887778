import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  useNodesInitialized,
  useNodesState,
  useReactFlow,
  type Edge,
  type Node,
  type NodeProps,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { GitBranch, Hand, Repeat } from 'lucide-react';
import { memo, useEffect, useMemo } from 'react';
import { layoutSteps, NODE_HEIGHT, NODE_WIDTH, type StepInfo } from '../lib/workflow-graph';
import { cx } from './ui';

export interface StepView extends Pick<StepInfo, 'id' | 'needs'> {
  uses?: string | undefined;
  condition?: string | undefined;
  foreach?: boolean;
  wait?: boolean;
  /** Live status on the run page; absent in the editor. */
  status?: string | undefined;
  attempts?: number | undefined;
}

const statusRing: Record<string, string> = {
  completed: 'ring-emerald-500 bg-emerald-50 dark:bg-emerald-500/10',
  failed: 'ring-rose-500 bg-rose-50 dark:bg-rose-500/10',
  running: 'ring-sky-500 bg-sky-50 dark:bg-sky-500/10 animate-pulse',
  retrying: 'ring-amber-500 bg-amber-50 dark:bg-amber-500/10',
  waiting: 'ring-amber-500 bg-amber-50 dark:bg-amber-500/10',
  skipped: 'ring-slate-300 bg-slate-50 opacity-60 dark:bg-slate-800',
  cancelled: 'ring-slate-400 bg-slate-100 dark:bg-slate-800',
};

type StepNode = Node<StepView & Record<string, unknown>, 'step'>;

const StepNodeView = memo(function StepNodeView({ data, selected }: NodeProps<StepNode>) {
  return (
    <div
      data-testid={`step-${data.id}`}
      data-status={data.status ?? ''}
      style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
      className={cx(
        'flex flex-col justify-center rounded-lg px-3 text-left shadow-sm ring-1',
        data.status
          ? (statusRing[data.status] ?? 'ring-slate-300 bg-white dark:bg-slate-900')
          : 'bg-white ring-slate-300 dark:bg-slate-900 dark:ring-slate-600',
        selected && 'outline-2 outline-offset-2 outline-indigo-500',
      )}
    >
      <Handle type="target" position={Position.Top} className="!bg-slate-400" />
      <div className="flex items-center gap-1.5">
        <span className="truncate text-sm font-semibold text-slate-900 dark:text-slate-100">{data.id}</span>
        {data.condition && <GitBranch className="size-3.5 shrink-0 text-violet-500" aria-label="conditional" />}
        {data.foreach && <Repeat className="size-3.5 shrink-0 text-sky-500" aria-label="for each" />}
        {data.wait && <Hand className="size-3.5 shrink-0 text-amber-500" aria-label="waits" />}
      </div>
      <div className="flex items-center justify-between gap-2 text-xs text-slate-500 dark:text-slate-400">
        <span className="truncate font-mono">{data.uses ?? '—'}</span>
        {data.status && (
          <span className="shrink-0">
            {data.status}
            {data.attempts && data.attempts > 1 ? ` ×${data.attempts}` : ''}
          </span>
        )}
      </div>
      <Handle type="source" position={Position.Bottom} className="!bg-slate-400" />
    </div>
  );
});

const nodeTypes = { step: StepNodeView };
const FIT = { padding: 0.15, maxZoom: 1 };

/** Fits the view again when steps or dependencies change (not on status changes, which keep pan and zoom). */
function FitOnShape({ shape }: { shape: string }) {
  const { fitView } = useReactFlow();
  const measured = useNodesInitialized();
  useEffect(() => {
    if (measured) void fitView(FIT);
  }, [shape, measured, fitView]);
  return null;
}

export function StepGraph({
  steps,
  onSelect,
  selected,
  height = 420,
}: {
  steps: StepView[];
  onSelect?: (id: string) => void;
  selected?: string | undefined;
  height?: number;
}) {
  // Positions depend only on ids and dependencies, so a status change does not move anything.
  const shape = steps.map((s) => `${s.id}<${s.needs.join(',')}`).join(';');
  const layout = useMemo(() => layoutSteps(steps), [shape]);
  const byId = new Map(steps.map((s) => [s.id, s]));
  // Nodes live in React Flow's state so the sizes it measured survive updates: a node object
  // replaced without them stays hidden until measured again, which never happens if its size is unchanged.
  const [nodes, setNodes, onNodesChange] = useNodesState<StepNode>([]);
  const content = JSON.stringify(steps) + String(selected);
  useEffect(() => {
    setNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return layout.nodes.map((n) => ({
        ...old.get(n.id),
        id: n.id,
        type: 'step' as const,
        position: n.position,
        data: { ...(byId.get(n.id) ?? n.data) } as StepNode['data'],
        selected: n.id === selected,
        draggable: false,
      }));
    });
  }, [layout, content, setNodes]);
  const edges: Edge[] = layout.edges.map((e) => {
    const target = byId.get(e.target);
    return { ...e, animated: target?.status === 'running', style: { strokeWidth: 1.5 } };
  });
  return (
    <div
      style={{ height }}
      className="rounded-lg bg-slate-50 ring-1 ring-slate-200 dark:bg-slate-950 dark:ring-slate-800"
      data-testid="step-graph"
    >
      <ReactFlow
        nodes={nodes}
        onNodesChange={onNodesChange}
        edges={edges}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={FIT}
        nodesConnectable={false}
        onNodeClick={(_, n) => onSelect?.(n.id)}
        proOptions={{ hideAttribution: true }}
        colorMode={document.documentElement.classList.contains('dark') ? 'dark' : 'light'}
      >
        <FitOnShape shape={shape} />
        <Background gap={16} size={1} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
