/**
 * lenet-mnist: LeNet-5 handwritten-digit recognition for any JavaScript app.
 *
 * @packageDocumentation
 */

/** The package version. @example `console.log(VERSION)` */
export const VERSION = '0.1.0';
