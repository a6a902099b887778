import { lazy, Suspense, useState, type ComponentType, type ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { Layout } from './components/layout';
import { Spinner } from './components/ui';
import { useAuth } from './lib/auth';
import { ChangePasswordPage } from './pages/change-password';
import { LoginPage } from './pages/login';

/**
 * Every page is its own chunk: the first page loads only the shell, sign-in and what it shows.
 * A page whose chunk has already arrived renders at once instead of suspending: React holds a
 * suspended boundary's reveal for ~300 ms, which would delay the first page (and its API calls) for nothing.
 */
function page(load: () => Promise<{ default: ComponentType }>): ComponentType & { preload: () => void } {
  let loaded: ComponentType | undefined;
  const promise = () => load().then((m) => ((loaded = m.default), m));
  const Lazy = lazy(promise);
  const Page = () => {
    // Chosen once per mount, so a page never switches between the two (which would remount it).
    const [Loaded] = useState(() => loaded);
    return Loaded ? <Loaded /> : <Lazy />;
  };
  return Object.assign(Page, { preload: () => void promise() });
}

const Dashboard = page(() => import('./pages/dashboard'));
const Agents = page(() => import('./pages/agents'));
const Capabilities = page(() => import('./pages/capabilities'));
const Targets = page(() => import('./pages/targets'));
const Workflows = page(() => import('./pages/workflows'));
const WorkflowEditor = page(() => import('./pages/workflow-editor'));
const Runs = page(() => import('./pages/runs'));
const RunPage = page(() => import('./pages/run'));
const Chat = page(() => import('./pages/chat'));
const Memory = page(() => import('./pages/memory'));
const Analytics = page(() => import('./pages/analytics'));
const Settings = page(() => import('./pages/settings'));
const NotFound = page(() => import('./pages/not-found'));

// The dashboard is the usual first page: fetch its chunk while the session is being restored, not after.
if (location.pathname === '/') Dashboard.preload();

function RequireAuth({ children }: { children: ReactNode }) {
  const { status, user } = useAuth();
  const location = useLocation();
  if (status === 'loading') return <Spinner label="Signing in…" />;
  if (status === 'signed-out') {
    const next = location.pathname + location.search;
    return <Navigate to={next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`} replace />;
  }
  if (user?.must_change_password) return <ChangePasswordPage firstRun />;
  return <>{children}</>;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<Page el={<Dashboard />} />} />
        <Route path="agents/*" element={<Page el={<Agents />} />} />
        <Route path="capabilities" element={<Page el={<Capabilities />} />} />
        <Route path="targets" element={<Page el={<Targets />} />} />
        <Route path="workflows" element={<Page el={<Workflows />} />} />
        <Route path="workflows/new" element={<Page el={<WorkflowEditor />} />} />
        <Route path="workflows/:id" element={<Page el={<WorkflowEditor />} />} />
        <Route path="runs" element={<Page el={<Runs />} />} />
        <Route path="runs/:id" element={<Page el={<RunPage />} />} />
        <Route path="chat" element={<Page el={<Chat />} />} />
        <Route path="chat/:id" element={<Page el={<Chat />} />} />
        <Route path="memory" element={<Page el={<Memory />} />} />
        <Route path="analytics" element={<Page el={<Analytics />} />} />
        <Route path="settings/*" element={<Page el={<Settings />} />} />
        <Route path="*" element={<Page el={<NotFound />} />} />
      </Route>
    </Routes>
  );
}

function Page({ el }: { el: ReactNode }) {
  return <Suspense fallback={<Spinner />}>{el}</Suspense>;
}
