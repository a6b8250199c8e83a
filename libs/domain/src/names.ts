/** Rules for names users and programs give: one place, used by every door. */
export const UPLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeUploadName(name: string): boolean {
  return UPLOAD_NAME.test(name) && !name.includes('..');
}

/** Subjects become part of directory names and arguments: keep them tame. */
export const SUBJECT = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$/;
