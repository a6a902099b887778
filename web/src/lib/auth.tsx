import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, type User } from './api';

interface Me {
  user: User;
  permissions: string[];
}

interface AuthState {
  status: 'loading' | 'signed-out' | 'signed-in';
  user: User | undefined;
  permissions: Set<string>;
  can(permission: string): boolean;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  reload(): Promise<void>;
}

const AuthContext = createContext<AuthState | undefined>(undefined);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | undefined>();
  const [status, setStatus] = useState<AuthState['status']>(api.hasSession ? 'loading' : 'signed-out');

  const reload = useCallback(async () => {
    try {
      const m = await api.get<Me>('/api/v1/auth/me');
      setMe(m);
      setStatus('signed-in');
    } catch {
      setMe(undefined);
      setStatus('signed-out');
    }
  }, []);

  useEffect(() => {
    // A reload keeps the tab's session: the stored refresh token buys a new access token.
    if (api.hasSession) void reload();
    return api.onSignedOut(() => {
      setMe(undefined);
      setStatus('signed-out');
    });
  }, [reload]);

  const value = useMemo<AuthState>(() => {
    const permissions = new Set(me?.permissions ?? []);
    return {
      status,
      user: me?.user,
      permissions,
      can: (p) => permissions.has(p),
      login: async (username, password) => {
        await api.login(username, password);
        await reload();
      },
      logout: () => api.logout(),
      reload,
    };
  }, [me, status, reload]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}
