#ifndef DTP_PARTITION_H
#define DTP_PARTITION_H
#endif
