// A page for an error: its status and the message alone (no hint meant for the CLI).
import { pageHtml } from './page';

export function errorPage(status: number, message: string): string {
  return pageHtml(
    'Error',
    <>
      <h1>{status}</h1>
      <p>{message}</p>
      <p>
        <a href="/">runs</a>
      </p>
    </>,
  );
}
