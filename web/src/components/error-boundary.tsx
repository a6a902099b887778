import { Component, type ErrorInfo, type ReactNode } from 'react';

/** A page that throws while rendering shows what went wrong instead of a blank screen; the shell stays usable. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | undefined }> {
  override state = { error: undefined as Error | undefined };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('page crashed', error, info.componentStack);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div
        role="alert"
        className="rounded-lg bg-rose-50 p-4 text-sm text-rose-800 ring-1 ring-rose-200 dark:bg-rose-950/40 dark:text-rose-300 dark:ring-rose-900"
      >
        <p className="font-medium">This page failed to show.</p>
        <p className="mt-1 font-mono text-xs">{this.state.error.message}</p>
        <button type="button" className="mt-3 underline" onClick={() => location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}
