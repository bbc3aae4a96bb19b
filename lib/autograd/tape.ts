// The tape: ops record a node (inputs, output, backward rule) while gradients are enabled;
// `backward` walks it in reverse, accumulating gradients, then releases what the nodes saved.
import type { Tensor } from "../tensor/tensor.ts";

/**
 * Given the gradient of the output, returns gradients for each input (null where none flows).
 * `prior` (when given) holds the gradient already summed for each input from the ops after this one
 * (null for leaves and inputs without one yet); a rule that adds prior.grads[k] into its own result
 * for input k (a GEMM's or a norm's epilogue: no accumulate pass) sets prior.used[k] = true, and that
 * result then replaces the sum.
 */
export type BackwardRule = (gradOut: Tensor, prior?: Prior) => (Tensor | null)[];

export interface Prior {
  grads: (Tensor | null)[];
  used: boolean[];
}

export interface TapeNode {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  backward?: BackwardRule;
}

export class Tape {
  nodes: TapeNode[] = [];

  record(node: TapeNode) {
    this.nodes.push(node);
    node.output.creator = node;
  }

  clear() {
    for (const n of this.nodes) n.output.creator = null;
    this.nodes = [];
  }
}
