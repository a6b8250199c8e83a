import { CreateCoreTables1763700000000 } from './1763700000000-CreateCoreTables';
import { AddWorkerLiveness1763800000000 } from './1763800000000-AddWorkerLiveness';
import { AddQaDecisionsAndRunProducts1763850000000 } from './1763850000000-AddQaDecisionsAndRunProducts';
import { CreateLocalArchive1763900000000 } from './1763900000000-CreateLocalArchive';
import { AddEventNotifications1763950000000 } from './1763950000000-AddEventNotifications';
import { MakeTokenNamesUnique1764000000000 } from './1764000000000-MakeTokenNamesUnique';
import { AddScheduling1764100000000 } from './1764100000000-AddScheduling';
import { AddBatchExecutors1764200000000 } from './1764200000000-AddBatchExecutors';
import { AddResume1764300000000 } from './1764300000000-AddResume';
import { AddResults1764400000000 } from './1764400000000-AddResults';
import { AddRounds1764500000000 } from './1764500000000-AddRounds';
import { AddDynamicScatter1764600000000 } from './1764600000000-AddDynamicScatter';
import { AddWaitingIndex1764700000000 } from './1764700000000-AddWaitingIndex';
import { AddGroupProgress1764800000000 } from './1764800000000-AddGroupProgress';
import { AddBulkIngestion1764810000000 } from './1764810000000-AddBulkIngestion';
import { CreateAuditLog1764820000000 } from './1764820000000-CreateAuditLog';
import { AddMetricCounters1764850000000 } from './1764850000000-AddMetricCounters';
import { AddFinishedIndex1764900000000 } from './1764900000000-AddFinishedIndex';
import { AddFailedIndex1765000000000 } from './1765000000000-AddFailedIndex';
import { WidenUnnotifiedIndex1765000100000 } from './1765000100000-WidenUnnotifiedIndex';
import { AddJobsPrunedAt1765100000000 } from './1765100000000-AddJobsPrunedAt';

/** Every migration, registered explicitly, in order. */
export const MIGRATIONS = [
  CreateCoreTables1763700000000,
  AddWorkerLiveness1763800000000,
  AddQaDecisionsAndRunProducts1763850000000,
  CreateLocalArchive1763900000000,
  AddEventNotifications1763950000000,
  MakeTokenNamesUnique1764000000000,
  AddScheduling1764100000000,
  AddBatchExecutors1764200000000,
  AddResume1764300000000,
  AddResults1764400000000,
  AddRounds1764500000000,
  AddDynamicScatter1764600000000,
  AddWaitingIndex1764700000000,
  AddGroupProgress1764800000000,
  AddBulkIngestion1764810000000,
  CreateAuditLog1764820000000,
  AddMetricCounters1764850000000,
  AddFinishedIndex1764900000000,
  AddFailedIndex1765000000000,
  WidenUnnotifiedIndex1765000100000,
  AddJobsPrunedAt1765100000000,
];
