import { useQuery, type UseQueryOptions } from '@tanstack/react-query';
import { api } from './api';

/** GET a JSON path with react-query; the path is the cache key, so invalidating a prefix refreshes lists. */
export function useGet<T>(path: string | undefined, opts: Partial<UseQueryOptions<T>> = {}) {
  return useQuery<T>({
    queryKey: path ? path.split(/(?=[/?])/) : ['none'],
    queryFn: ({ signal }) => api.get<T>(path!, signal),
    enabled: path !== undefined,
    ...opts,
  });
}
