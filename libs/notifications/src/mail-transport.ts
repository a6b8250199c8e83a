import * as fs from 'node:fs';
import * as path from 'node:path';
import * as nodemailer from 'nodemailer';
import type { MailJob } from './mail-content';

/**
 * Sends a mail job: over SMTP when WFS_SMTP_URL is set, else as an RFC 822
 * `.eml` file in the mail dir (nodemailer's stream transport renders the same
 * message it would send). The file name is fixed by the event, so a retried
 * job rewrites the same file instead of adding one.
 */
export class MailTransport {
  private readonly transporter: nodemailer.Transporter;

  constructor(private readonly opts: { smtpUrl: string | null; mailDir: string; from: string }) {
    this.transporter = opts.smtpUrl
      ? nodemailer.createTransport(opts.smtpUrl)
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  static fileName(job: Pick<MailJob, 'runId' | 'type' | 'messageId'>): string {
    return `run-${job.runId}-${job.type}-${job.messageId}.eml`;
  }

  /** Returns where it went: the SMTP server's answer or the file written. */
  async send(job: MailJob): Promise<string> {
    const info = await this.transporter.sendMail({
      from: this.opts.from,
      to: job.to,
      subject: job.subject,
      text: job.text,
      messageId: `<${job.messageId}@wfs>`,
      headers: {
        'X-Wfs-Run-Id': String(job.runId),
        'X-Wfs-Event': job.type,
        'X-Wfs-Roles': job.roles.join(','),
      },
    });
    if (this.opts.smtpUrl) return `smtp ${String(info.response ?? '')}`.trim();
    const message = (info as unknown as { message: Buffer }).message;
    await fs.promises.mkdir(this.opts.mailDir, { recursive: true });
    const file = path.join(this.opts.mailDir, MailTransport.fileName(job));
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.promises.writeFile(tmp, message);
    await fs.promises.rename(tmp, file);
    return file;
  }

  close(): void {
    this.transporter.close();
  }
}
