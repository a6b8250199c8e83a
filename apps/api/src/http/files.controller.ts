import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Controller, Get, Inject, Param, Put, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import type { Request, Response } from 'express';
import { RequireRole } from '@wfs/auth';
import { WfsError } from '@wfs/domain';
import { RunQueries, UploadFile } from '@wfs/runs';
import { ApiOp, RUN_ID } from './api-op';
import { dropRest } from './drop-rest';
import { PositiveInt } from './validation';

const FILENAME = {
  description: 'The file name: ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
  schema: { type: 'string' as const },
};

@ApiTags('files')
@Controller('api/v1/runs/:id/files')
export class FilesController {
  constructor(
    @Inject(UploadFile) private readonly uploadFile: UploadFile,
    @Inject(RunQueries) private readonly queries: RunQueries,
    @Inject('MAX_UPLOAD_BYTES') private readonly maxBytes: number,
  ) {}

  /** Raw bytes, streamed to disk: the size limit stops the upload as it passes, not after. */
  @ApiOp({
    summary: 'Upload an input file of a created run',
    description:
      'Raw bytes; re-uploading a name replaces it. 409 once the run is submitted; 413 above WFS_MAX_UPLOAD_BYTES (checked while streaming).',
    path: { id: RUN_ID, filename: FILENAME },
    body: {
      required: true,
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    },
    responses: { 201: 'File' },
    errors: [409],
  })
  @Put(':filename')
  @RequireRole('da')
  @Audited('upload', { runId: 'id' })
  async upload(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('filename') filename: string,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/octet-stream') {
      throw new WfsError(
        'unsupported_media',
        'UNSUPPORTED_MEDIA_TYPE',
        'Upload the file as raw bytes with Content-Type: application/octet-stream.',
        {
          contentType: type || null,
        },
      );
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > this.maxBytes) {
      dropRest(req);
      throw new WfsError(
        'too_large',
        'FILE_TOO_LARGE',
        `The file is larger than the limit of ${this.maxBytes} bytes.`,
        { limit: this.maxBytes },
      );
    }
    // The bytes go through a pass-through: when storing stops early (too large, bad name, wrong
    // state) the pipeline destroys that, not the request, so the socket lives to carry the answer.
    const body = new PassThrough();
    req.pipe(body);
    try {
      const file = await this.uploadFile.execute(id, filename, body);
      res.status(201).json(file);
    } catch (e) {
      dropRest(req);
      throw e;
    }
  }

  @ApiOp({
    summary: "List a run's input files",
    path: { id: RUN_ID },
    responses: { 200: 'FileList' },
  })
  @Get()
  @RequireRole('viewer')
  async list(@Param('id', new PositiveInt('id')) id: number) {
    return { items: await this.queries.files(id) };
  }

  @ApiOp({
    summary: 'Download an input file',
    path: { id: RUN_ID, filename: FILENAME },
    responses: { 200: 'bytes' },
    errors: [409],
  })
  @Get(':filename')
  @RequireRole('viewer')
  async download(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('filename') filename: string,
    @Res() res: Response,
  ) {
    // An unknown name is a 404 (contract: unknown id/name), like an unknown run; the bytes are
    // read through a descriptor opened without following links (a link planted there is a 409).
    const { handle, size } = await this.queries.openFile(id, filename);
    res.status(200).set({
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(size),
      // Names are plain (UPLOAD_NAME): quoting is enough. Behind a token: never in a shared cache.
      'Content-Disposition': `attachment; filename="${filename}"`,
      'Cache-Control': 'private, no-store',
    });
    try {
      await pipeline(handle.createReadStream(), res);
    } catch {
      res.destroy();
    }
  }
}
