import { lazy, Suspense } from 'react';
import { NavLink, Navigate, Route, Routes } from 'react-router-dom';
import { Card, PageHeader, Spinner, cx } from '../components/ui';
import { useAuth } from '../lib/auth';
import { ChangePasswordPage } from './change-password';
import { ApiKeysTab } from './settings/api-keys';
import { SystemTab } from './settings/system';
import { UsersTab } from './settings/users';

const ProvidersTab = lazy(() => import('./settings/providers'));
const BudgetsTab = lazy(() => import('./settings/budgets'));

export default function Settings() {
  const { can } = useAuth();
  const tabs = [
    { to: 'profile', label: 'Profile', show: true },
    { to: 'providers', label: 'Providers & models', show: can('provider:read') },
    { to: 'api-keys', label: 'API keys', show: can('apikey:manage') },
    { to: 'users', label: 'Users & roles', show: can('user:read') },
    { to: 'budgets', label: 'Budgets', show: can('budget:manage') },
    { to: 'system', label: 'System', show: can('system:read') },
  ].filter((t) => t.show);

  return (
    <div>
      <PageHeader title="Settings" />
      <nav
        aria-label="Settings"
        className="mb-6 flex gap-1 overflow-x-auto border-b border-slate-200 dark:border-slate-800"
      >
        {tabs.map((t) => (
          <NavLink
            key={t.to}
            to={`/settings/${t.to}`}
            className={({ isActive }) =>
              cx(
                '-mb-px whitespace-nowrap border-b-2 px-3 py-2 text-sm font-medium',
                isActive
                  ? 'border-indigo-500 text-indigo-600 dark:text-indigo-400'
                  : 'border-transparent text-slate-500 hover:text-slate-800 dark:hover:text-slate-200',
              )
            }
          >
            {t.label}
          </NavLink>
        ))}
      </nav>
      <Suspense fallback={<Spinner />}>
        <Routes>
          <Route index element={<Navigate to="/settings/profile" replace />} />
          <Route
            path="profile"
            element={
              <Card title="Change your password" className="max-w-md">
                <ChangePasswordPage />
              </Card>
            }
          />
          <Route path="providers" element={<ProvidersTab />} />
          <Route path="api-keys" element={<ApiKeysTab />} />
          <Route path="users" element={<UsersTab />} />
          <Route path="budgets" element={<BudgetsTab />} />
          <Route path="system" element={<SystemTab />} />
        </Routes>
      </Suspense>
    </div>
  );
}
